"""The Azure ML workspace as the CLI reaches it: clients, its MLflow registry, a job's gate outcome.

Credentials come from ``DefaultAzureCredential``; nothing here prints a key.
"""

from __future__ import annotations

from typing import Any

from .settings import AzureSettings, SettingsError


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
    """The same rule training promoted with: the alias, or its tag fallback (iris_ml.registry.versions)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from iris_ml.registry.versions import resolve_alias

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


def make_monitor_client(settings: AzureSettings) -> Any:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.monitor import MonitorManagementClient

    settings.require_workspace()
    return MonitorManagementClient(DefaultAzureCredential(), str(settings.subscription_id))


def gate_outcome(tracking_uri: str, job_name: str) -> str:
    """'passed' or 'rejected': the gate tag train.py put on its run.

    In Azure ML a job's name is its MLflow run id. The job command treats train.py's
    exit 3 (rejected) as success, so a rejection is an outcome here, not a failed job.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from iris_ml.registry.tags import GATE_TAG

    try:
        run = MlflowClient(tracking_uri=tracking_uri).get_run(job_name)
    except MlflowException as exc:
        raise SettingsError(f"cannot read the training run {job_name}: {exc.message}") from None
    return run.data.tags.get(GATE_TAG, "unknown (the run has no gate tag)")
