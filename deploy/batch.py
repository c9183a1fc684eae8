"""The batch endpoint: its specs with this run's names and version, the plan in their words, the job.

``python -m deploy batch INPUT`` creates or updates the endpoint of batch-endpoint.yml and
its deployment of batch-deployment.yml (the champion's version, made the endpoint's
default), then starts a job over INPUT (an Azure ML data asset, a datastore URI or a
local folder azure-ai-ml uploads). The calls follow Azure ML's batch endpoint examples
(azureml-examples, sdk/python/endpoints/batch: ``batch_endpoints.begin_create_or_update``,
``batch_deployments.begin_create_or_update``, ``batch_endpoints.invoke(inputs=...)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import (
    MODEL_VERSION_ENV,
    SPEC_DIR,
    AzureSettings,
    SettingsError,
    validate_endpoint_name,
)

BATCH_ENDPOINT_ENV = "IRIS_BATCH_ENDPOINT_NAME"
INPUT_NAME = "input"  # a model deployment takes one input; its name is ours to choose


@dataclass(frozen=True)
class BatchSpecs:
    endpoint: Any  # azure.ai.ml.entities.BatchEndpoint
    deployment: Any  # azure.ai.ml.entities.ModelBatchDeployment


def batch_endpoint_name(flag: str | None) -> str:
    """--batch-endpoint, else $IRIS_BATCH_ENDPOINT_NAME: names are unique per region, no default."""
    name = flag or os.environ.get(BATCH_ENDPOINT_ENV)
    if not name:
        raise SettingsError(
            f"no batch endpoint name: set --batch-endpoint or ${BATCH_ENDPOINT_ENV} (unique per "
            "Azure region: choose your own, 3-32 characters, a letter first)"
        )
    try:
        return validate_endpoint_name(name)  # the same rules as online endpoints'
    except SettingsError as exc:
        raise SettingsError(f"batch {exc}") from None


def load_batch_specs(
    settings: AzureSettings, endpoint_name: str, version: str, spec_dir: Path = SPEC_DIR
) -> BatchSpecs:
    from azure.ai.ml import load_batch_endpoint
    from azure.ai.ml.entities._load_functions import load_model_batch_deployment

    endpoint = load_batch_endpoint(
        spec_dir / "batch-endpoint.yml", params_override=[{"name": endpoint_name}]
    )
    deployment = load_model_batch_deployment(
        spec_dir / "batch-deployment.yml",
        params_override=[
            {"endpoint_name": endpoint_name},
            {"model": f"azureml:{settings.model_name}:{version}"},
        ],
    )
    variables = deployment.settings.environment_variables or {}
    deployment.settings.environment_variables = {**variables, MODEL_VERSION_ENV: version}
    return BatchSpecs(endpoint, deployment)


def describe_batch_plan(specs: BatchSpecs, input_path: str) -> list[str]:
    """The steps in the specs' own words (what `az ml` would show of each)."""
    endpoint, deployment = specs.endpoint, specs.deployment
    run = deployment.settings
    retry = run.retry_settings
    return [
        f"create or update batch endpoint '{endpoint.name}' (auth_mode: {endpoint.auth_mode})",
        f"create or update its deployment '{deployment.name}': model {deployment.model}, "
        f"compute {deployment.compute} x{deployment.resources.instance_count}, "
        f"{run.max_concurrency_per_instance} workers each, mini_batch_size {run.mini_batch_size}, "
        f"max_retries {retry.max_retries} (timeout {retry.timeout} s), "
        f"error_threshold {run.error_threshold}, output_action {run.output_action}",
        f"make '{deployment.name}' the endpoint's default deployment",
        f"start a job over {input_path} (uri_folder); each CSV's rows come back as "
        "<file>.parquet in the job's output folder",
    ]


def batch_input(input_path: str) -> Any:
    from azure.ai.ml import Input
    from azure.ai.ml.constants import AssetTypes

    return Input(type=AssetTypes.URI_FOLDER, path=input_path)


def run_batch(client: Any, specs: BatchSpecs, input_path: str) -> Any:
    """Endpoint, deployment, default, job: the started job (azure.ai.ml.entities.BatchJob)."""
    endpoint, deployment = specs.endpoint, specs.deployment
    client.batch_endpoints.begin_create_or_update(endpoint).result()
    client.batch_deployments.begin_create_or_update(deployment).result()
    endpoint.defaults = {"deployment_name": deployment.name}  # BatchEndpoint's dict form
    client.batch_endpoints.begin_create_or_update(endpoint).result()
    return client.batch_endpoints.invoke(
        endpoint_name=endpoint.name,
        deployment_name=deployment.name,
        inputs={INPUT_NAME: batch_input(input_path)},
    )
