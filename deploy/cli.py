"""``python -m deploy``: validate specs, train on Azure ML, deploy blue/green, inspect, tear down.

Credentials come from ``DefaultAzureCredential`` (az login, a managed identity,
or GitHub's OIDC through azure/login); no key is ever printed. ``--dry-run``
prints the plan and needs no credentials.

Exit status: 0 success; 2 bad settings or specs; 3 deploy failed and was rolled
back; 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploy.plan import EndpointState, PlanError, plan_deploy
from deploy.settings import SPEC_DIR, AzureSettings, SettingsError, resolve_settings
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME

EXIT_OK, EXIT_ERROR, EXIT_SETTINGS, EXIT_ROLLED_BACK, EXIT_NOT_PROMOTED = 0, 1, 2, 3, 4


def validate_specs(spec_dir: Path = SPEC_DIR, endpoint: str | None = None) -> list[str]:
    """Load every YAML with azure-ai-ml's own loaders (offline) and check our rules. Returns problems."""
    from azure.ai.ml import load_job, load_online_deployment, load_online_endpoint
    from marshmallow.exceptions import ValidationError

    from deploy.autoscale import load_rules
    from deploy.plan import COLOURS, check_traffic
    from deploy.settings import validate_endpoint_name

    problems: list[str] = []
    loaded: dict[str, Any] = {}
    for name, loader in (
        ("endpoint.yml", load_online_endpoint),
        ("deployment.yml", load_online_deployment),
        ("train-job.yml", load_job),
    ):
        try:
            loaded[name] = loader(spec_dir / name)
        except (
            ValidationError,
            ValueError,
            OSError,
        ) as exc:  # azure-ai-ml's ValidationException is a ValueError
            problems.append(f"{name}: {str(exc).strip()[:400]}")
    endpoint_spec = loaded.get("endpoint.yml")
    if endpoint_spec is not None:
        try:
            validate_endpoint_name(endpoint or endpoint_spec.name)
        except SettingsError as exc:
            problems.append(f"endpoint.yml: {exc}")
        if endpoint_spec.auth_mode not in ("key", "aml_token", "aad_token"):
            problems.append(f"endpoint.yml: auth_mode {endpoint_spec.auth_mode!r}")
        try:
            check_traffic(
                endpoint_spec.traffic or {}, getattr(endpoint_spec, "mirror_traffic", None) or {}
            )
        except PlanError as exc:
            problems.append(f"endpoint.yml: {exc}")
    deployment = loaded.get("deployment.yml")
    if deployment is not None:
        if deployment.name not in COLOURS:
            problems.append(
                f"deployment.yml: name must be one of {COLOURS}, got {deployment.name!r}"
            )
        if endpoint_spec is not None and deployment.endpoint_name != endpoint_spec.name:
            problems.append("deployment.yml: endpoint_name differs from endpoint.yml's name")
        if deployment.code_configuration is None or deployment.environment is None:
            problems.append(
                "deployment.yml: needs code_configuration and environment (no-code MLflow is not supported)"
            )
        problems += [f"deployment.yml: {p}" for p in sizing_problems(deployment)]
        problems += [f"deployment.yml: {p}" for p in collection_problems(deployment)]
    problems += _monitor_spec_problems(spec_dir)
    try:
        load_rules(spec_dir)
    except SettingsError as exc:
        problems.append(str(exc))
    if not (spec_dir / "sample-request.json").is_file():
        problems.append("sample-request.json is missing")
    return problems


def make_ml_client(settings: AzureSettings) -> Any:
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    settings.require_workspace()
    return MLClient(
        DefaultAzureCredential(),
        settings.subscription_id,
        settings.resource_group,
        settings.workspace,
    )


def workspace_tracking_uri(ml_client: Any, settings: AzureSettings) -> str:
    return ml_client.workspaces.get(settings.workspace).mlflow_tracking_uri


def resolve_champion(tracking_uri: str, settings: AzureSettings) -> str:
    """The same rule training promoted with: the alias, or its tag fallback (iris_ml.registry)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from iris_ml.registry import resolve_alias

    try:
        found = resolve_alias(
            MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri),
            settings.model_name,
            settings.alias,
        )
    except MlflowException as exc:  # unreachable or refusing: not "no champion"
        raise SettingsError(f"cannot read the registry: {exc.message}") from None
    if found is None:
        raise SettingsError(
            f"no version of {settings.model_name} carries '{settings.alias}': train first"
        )
    return str(found.version)


def _monitor_spec_problems(spec_dir: Path) -> list[str]:
    from marshmallow.exceptions import ValidationError

    from deploy.monitoring import load_monitor, monitor_problems

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
    from deploy.settings import INSTANCE_VCPUS

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


def gate_outcome(tracking_uri: str, job_name: str) -> str:
    """'passed' or 'rejected': the gate tag train.py put on its run.

    In Azure ML a job's name is its MLflow run id. The job command treats train.py's
    exit 3 (rejected) as success, so a rejection is an outcome here, not a failed job.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        run = MlflowClient(tracking_uri=tracking_uri).get_run(job_name)
    except MlflowException as exc:
        raise SettingsError(f"cannot read the training run {job_name}: {exc.message}") from None
    return run.data.tags.get("gate", "unknown (the run has no gate tag)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--subscription-id", help="default: $AZURE_SUBSCRIPTION_ID or config.json")
    p.add_argument("--resource-group", help="default: $AZURE_RESOURCE_GROUP or config.json")
    p.add_argument("--workspace", help="default: $AZUREML_WORKSPACE or config.json")
    p.add_argument(
        "--endpoint",
        help="endpoint name, unique in its Azure region (default: $IRIS_ENDPOINT_NAME; required "
        "for deploy, status, logs and teardown)",
    )
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    p.add_argument("--alias", default=DEFAULT_ALIAS)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "validate",
        help="load every YAML offline with azure-ai-ml and check names and traffic rules",
    )
    sub.add_parser(
        "tracking-uri",
        help="print the workspace's MLflow tracking URI (for export MLFLOW_TRACKING_URI=...)",
    )
    train = sub.add_parser("train", help="submit deploy/azureml/train-job.yml and stream its logs")
    train.add_argument("--compute", help="compute cluster (default: the spec's)")
    train.add_argument("--no-stream", action="store_true")
    deploy = sub.add_parser(
        "deploy", help="put the champion live on the idle colour (blue/green), with rollback"
    )
    deploy.add_argument("--version", help="model version (default: the registry's champion)")
    deploy.add_argument(
        "--canary",
        type=int,
        default=0,
        help="percent of live traffic to the new colour before the full switch",
    )
    deploy.add_argument(
        "--mirror",
        type=int,
        default=0,
        help="percent of traffic mirrored to the new colour first (<= 50)",
    )
    deploy.add_argument(
        "--keep-old",
        action="store_true",
        help="keep the previous colour (at 0%% traffic) for an instant rollback; it costs as "
        "much as the live one and holds core quota (default: delete it after the switch)",
    )
    deploy.add_argument(
        "--dry-run", action="store_true", help="print the plan; no credentials, no changes"
    )
    deploy.add_argument(
        "--tracking-uri",
        help="with --dry-run: the MLflow registry to find the champion in "
        "(default: $MLFLOW_TRACKING_URI; without either the plan names no version)",
    )
    deploy.add_argument(
        "--assume-live",
        choices=["blue", "green"],
        help="with --dry-run: plan as if this colour were live",
    )
    monitor = sub.add_parser(
        "monitor", help="schedule Azure ML model monitoring of the live colour (monitor.yml)"
    )
    monitor.add_argument("--dry-run", action="store_true", help="check monitor.yml; no credentials")
    autoscale = sub.add_parser(
        "autoscale", help="apply autoscale.yml's CPU rules to the live colour (Azure Monitor)"
    )
    autoscale.add_argument("--dry-run", action="store_true", help="check the rules; no credentials")
    sub.add_parser("status", help="scoring URI, traffic and deployments (no keys)")
    logs = sub.add_parser("logs", help="container logs of one colour")
    logs.add_argument("colour", choices=["blue", "green"])
    logs.add_argument("--lines", type=int, default=100)
    teardown = sub.add_parser(
        "teardown", help="delete the endpoint and its deployments (stops the cost)"
    )
    teardown.add_argument("--yes", action="store_true", help="required: confirms the deletion")
    return p


def main(
    argv: Sequence[str] | None = None, ml_client: Any = None, monitor_client: Any = None
) -> int:
    args = build_parser().parse_args(argv)
    flags = {
        "subscription_id": args.subscription_id,
        "resource_group": args.resource_group,
        "workspace": args.workspace,
        "endpoint": args.endpoint,
        "model_name": args.model_name,
        "alias": args.alias,
    }
    try:
        settings = resolve_settings(flags)
        if args.command == "validate":
            problems = validate_specs(endpoint=settings.endpoint)
            for problem in problems:
                print(f"INVALID {problem}")
            print("specs valid" if not problems else f"{len(problems)} problem(s)")
            return EXIT_SETTINGS if problems else EXIT_OK
        if args.command == "autoscale" and args.dry_run:
            return _autoscale_dry_run()
        if args.command == "monitor" and args.dry_run:
            return _monitor_dry_run(settings)
        if args.command == "deploy" and args.dry_run:
            registry = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
            version = args.version or (
                resolve_champion(registry, settings)
                if registry
                else f"<champion of {settings.model_name}>"
            )
            live = args.assume_live
            state = EndpointState(exists=bool(live), traffic={live: 100} if live else {})
            plan = plan_deploy(
                state, version, canary=args.canary, mirror=args.mirror, keep_old=args.keep_old
            )
            assumed = f"'{live}' live" if live else "a new endpoint"
            print(
                f"Plan for endpoint {settings.endpoint or '<$IRIS_ENDPOINT_NAME>'}, "
                f"{settings.model_name} version {version} "
                f"(no credentials used; assuming {assumed}):"
            )
            for number, step in enumerate(plan.steps, 1):
                print(f"  {number}. {step.describe()}")
            print(
                "  on any failure once the new colour exists: restore the previous traffic and delete it"
            )
            return EXIT_OK
        return _with_client(args, settings, ml_client, monitor_client)
    except (SettingsError, PlanError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return EXIT_SETTINGS


def _autoscale_dry_run() -> int:
    from deploy.autoscale import load_rules

    rules = load_rules()  # a SettingsError says what is wrong
    print(
        f"Plan (no credentials used): {rules.minimum}-{rules.maximum} instances "
        f"(default {rules.default}) on the live colour; +{rules.scale_out.change} above "
        f"{rules.scale_out.cpu_percent:g}% CPU for {rules.scale_out.over_minutes} min, "
        f"-{rules.scale_in.change} below {rules.scale_in.cpu_percent:g}% for "
        f"{rules.scale_in.over_minutes} min"
    )
    return EXIT_OK


def make_monitor_client(settings: AzureSettings) -> Any:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.monitor import MonitorManagementClient

    settings.require_workspace()
    return MonitorManagementClient(DefaultAzureCredential(), str(settings.subscription_id))


def _monitor_dry_run(settings: AzureSettings) -> int:
    from deploy.monitoring import REFERENCE_DATA, load_monitor, monitor_problems

    endpoint = settings.endpoint or "<$IRIS_ENDPOINT_NAME>"
    schedule = load_monitor(endpoint, "<live colour>", "<new version>")
    problems = monitor_problems(schedule)
    for problem in problems:
        print(f"INVALID monitor.yml: {problem}")
    if problems:
        return EXIT_SETTINGS
    print(f"Plan (no credentials used): register {REFERENCE_DATA} (Fisher's training split),")
    print(f"then schedule '{schedule.name}' on {endpoint}'s live colour:")
    for name, signal in schedule.create_monitor.monitoring_signals.items():
        print(f"  {name}: {signal.type}, thresholds {signal.metric_thresholds}")
    return EXIT_OK


def _with_client(
    args: argparse.Namespace, settings: AzureSettings, ml_client: Any, monitor_client: Any
) -> int:
    from deploy.orchestrate import Deployer, DeployError

    if args.command in ("deploy", "autoscale", "monitor", "status", "logs", "teardown"):
        settings.require_endpoint()
    client = ml_client or make_ml_client(settings)
    deployer = Deployer(client, settings)
    try:
        if args.command == "tracking-uri":
            print(workspace_tracking_uri(client, settings))
        elif args.command == "train":
            job = deployer.submit_training(compute=args.compute)
            print(f"Submitted job {job.name}: {getattr(job, 'studio_url', '')}")
            if not args.no_stream:
                client.jobs.stream(job.name)
                gate = gate_outcome(workspace_tracking_uri(client, settings), job.name)
                print(f"Gate: {gate}")
                if gate != "passed":
                    print("Nothing to deploy: the champion did not change.")
                    return EXIT_NOT_PROMOTED
        elif args.command == "autoscale":
            from deploy.autoscale import load_rules

            rules = load_rules()
            deployer.autoscale(monitor_client or make_monitor_client(settings), rules)
            print(f"Autoscale on: {rules.minimum}-{rules.maximum} instances by CPU")
        elif args.command == "monitor":
            schedule = deployer.create_monitor()
            trigger = schedule.trigger
            print(
                f"Schedule {schedule.name}: drift checks every {trigger.interval} {trigger.frequency}"
            )
        elif args.command == "deploy":
            version = args.version or resolve_champion(
                workspace_tracking_uri(client, settings), settings
            )
            plan = deployer.plan(
                version, canary=args.canary, mirror=args.mirror, keep_old=args.keep_old
            )
            print(
                f"Deploying {settings.model_name} version {version}: live={plan.live or 'none'}, new={plan.new}"
            )
            deployer.execute(plan)
            status = deployer.status()
            print(f"Live: {status['traffic']} at {status['scoring_uri']}")
        elif args.command == "status":
            print(json.dumps(deployer.status(), indent=2))
        elif args.command == "logs":
            print(deployer.logs(args.colour, args.lines))
        elif args.command == "teardown":
            if not args.yes:
                print(
                    "deploy: teardown deletes the endpoint; pass --yes to confirm", file=sys.stderr
                )
                return EXIT_SETTINGS
            deployer.teardown()
            print(f"Deleted endpoint {settings.endpoint}")
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return EXIT_ROLLED_BACK if exc.rolled_back else EXIT_ERROR
    return EXIT_OK
