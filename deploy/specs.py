"""The Azure ML specs under ``deploy/azureml/``, checked offline with azure-ai-ml's own loaders.

``python -m deploy validate`` prints what this finds; CI runs it before anything
reaches Azure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .plan import COLOURS, PlanError, check_traffic
from .settings import INSTANCE_VCPUS, SPEC_DIR, SettingsError, validate_endpoint_name


def validate_specs(spec_dir: Path = SPEC_DIR, endpoint: str | None = None) -> list[str]:
    """Load every YAML with azure-ai-ml's own loaders (offline) and check our rules. Returns problems."""
    from .autoscale import load_rules

    loaded, problems = _load_specs(spec_dir)
    endpoint_spec = loaded.get("endpoint.yml")
    deployment = loaded.get("deployment.yml")
    if endpoint_spec is not None:
        problems += [f"endpoint.yml: {p}" for p in endpoint_problems(endpoint_spec, endpoint)]
    if deployment is not None:
        problems += [f"deployment.yml: {p}" for p in deployment_problems(deployment, endpoint_spec)]
    problems += _monitor_spec_problems(spec_dir)
    try:
        load_rules(spec_dir)
    except SettingsError as exc:
        problems.append(str(exc))
    if not (spec_dir / "sample-request.json").is_file():
        problems.append("sample-request.json is missing")
    return problems


def _load_specs(spec_dir: Path) -> tuple[dict[str, Any], list[str]]:
    from azure.ai.ml import (
        load_batch_endpoint,
        load_job,
        load_online_deployment,
        load_online_endpoint,
    )

    # `type: model` deployments (the settings block); the public load_batch_deployment still
    # reads only the deprecated flat BatchDeployment form.
    from azure.ai.ml.entities._load_functions import load_model_batch_deployment
    from marshmallow.exceptions import ValidationError

    loaded: dict[str, Any] = {}
    problems: list[str] = []
    for name, loader in (
        ("endpoint.yml", load_online_endpoint),
        ("deployment.yml", load_online_deployment),
        ("train-job.yml", load_job),
        ("batch-endpoint.yml", load_batch_endpoint),
        ("batch-deployment.yml", load_model_batch_deployment),
        ("batch-spark-job.yml", load_job),
    ):
        try:
            loaded[name] = loader(spec_dir / name)
        except (ValidationError, ValueError, OSError) as exc:  # ValidationException is a ValueError
            problems.append(f"{name}: {str(exc).strip()[:400]}")
    return loaded, problems


def endpoint_problems(endpoint_spec: Any, endpoint: str | None = None) -> list[str]:
    """A valid name (``endpoint`` overrides the spec's), an auth mode we support, sane traffic."""
    problems = []
    try:
        validate_endpoint_name(endpoint or endpoint_spec.name)
    except SettingsError as exc:
        problems.append(str(exc))
    if endpoint_spec.auth_mode not in ("key", "aml_token", "aad_token"):
        problems.append(f"auth_mode {endpoint_spec.auth_mode!r}")
    mirror = getattr(endpoint_spec, "mirror_traffic", None) or {}
    try:
        check_traffic(endpoint_spec.traffic or {}, mirror)
    except PlanError as exc:
        problems.append(str(exc))
    return problems


def deployment_problems(deployment: Any, endpoint_spec: Any | None) -> list[str]:
    """A blue/green name, the endpoint's name, our scoring script, sizing and data collection."""
    problems = []
    if deployment.name not in COLOURS:
        problems.append(f"name must be one of {COLOURS}, got {deployment.name!r}")
    if endpoint_spec is not None and deployment.endpoint_name != endpoint_spec.name:
        problems.append("endpoint_name differs from endpoint.yml's name")
    if deployment.code_configuration is None or deployment.environment is None:
        problems.append(
            "needs code_configuration and environment (no-code MLflow is not supported)"
        )
    return problems + sizing_problems(deployment) + collection_problems(deployment)


def _monitor_spec_problems(spec_dir: Path) -> list[str]:
    from marshmallow.exceptions import ValidationError

    from .monitoring import load_monitor, monitor_problems

    try:
        schedule = load_monitor("iris-classifier-ep", "blue", "1", spec_dir)
    except (ValidationError, ValueError, OSError) as exc:
        return [f"monitor.yml: {str(exc).strip()[:400]}"]
    except NotImplementedError:  # azure-ai-ml 1.35 fails while describing a bad schedule
        return ["monitor.yml: refused by azure-ai-ml's schedule loader"]
    return [f"monitor.yml: {p}" for p in monitor_problems(schedule)]


# The collections the scoring script writes to (deploy/azureml/scoring/score.py).
COLLECTIONS = ("model_inputs", "model_outputs")


def collection_problems(deployment: Any) -> list[str]:
    """The data collector must be on for the collections score.py writes, and the monitor reads."""
    collector = getattr(deployment, "data_collector", None)
    collections = getattr(collector, "collections", None) or {}
    missing = [
        name
        for name in COLLECTIONS
        if str(getattr(collections.get(name), "enabled", "false")).lower() != "true"
    ]
    return (
        [f"data_collector: enable {', '.join(missing)} (score.py collects them)"] if missing else []
    )


def sizing_problems(deployment: Any) -> list[str]:
    """WORKER_COUNT must match the instance's vCPUs, and the concurrency the workers."""
    vcpus = INSTANCE_VCPUS.get(deployment.instance_type)
    if vcpus is None:
        return [f"instance_type {deployment.instance_type!r}: add its vCPUs to INSTANCE_VCPUS"]
    workers = (deployment.environment_variables or {}).get("WORKER_COUNT")
    problems = []
    if workers != str(vcpus):
        problems.append(
            f"WORKER_COUNT is {workers!r}; {deployment.instance_type} has {vcpus} vCPUs "
            "(azmlinfsrv runs one worker unless told)"
        )
    concurrency = getattr(deployment.request_settings, "max_concurrent_requests_per_instance", None)
    if concurrency != vcpus:
        problems.append(
            f"max_concurrent_requests_per_instance is {concurrency}; match the {vcpus} workers"
        )
    return problems


def endpoint_auth_mode(spec_dir: Path = SPEC_DIR) -> str:
    """How callers authenticate to the endpoint: endpoint.yml's ``auth_mode``, as written."""
    import yaml

    return str(yaml.safe_load((spec_dir / "endpoint.yml").read_text())["auth_mode"])
