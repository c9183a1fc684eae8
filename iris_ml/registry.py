"""Registering and promoting the model in the MLflow registry.

Two routes exist because Azure ML's tracking server has no logged-models API
(MLflow 3 ``log_model`` fails there with a 404). ``publish_route`` chooses
once, from the tracking URI; everything else is shared:

* ``logged-model`` (local SQLite, ``mlflow server``): ``mlflow.pyfunc.log_model``,
  then register the LoggedModel.
* ``run-artifacts`` (Azure ML): ``save_model`` to a temporary folder, log it
  as run artifacts under ``model/``, register ``runs:/<run_id>/model``.

Promotion uses the registry alias; where the registry rejects aliases the
version gets the tag ``alias.<name>=true`` instead, and ``resolve_alias``
follows the same rule, so whatever deploys "the champion" agrees with what
training promoted.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Literal

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

PublishRoute = Literal["logged-model", "run-artifacts"]
MODEL_ARTIFACT_PATH = "model"
_log = logging.getLogger(__name__)
# What a registry answers for "no such alias" or "aliases unsupported"; anything else is re-raised.
_NO_ALIAS_CODES = frozenset(
    {
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
        "NOT_FOUND",
        "ENDPOINT_NOT_FOUND",
        "BAD_REQUEST",
        "FEATURE_DISABLED",
    }
)


def publish_route(tracking_uri: str) -> PublishRoute:
    """The one place that decides how a model reaches the registry."""
    return "run-artifacts" if tracking_uri.startswith("azureml:") else "logged-model"


def alias_tag(alias: str) -> str:
    return f"alias.{alias}"


def publish_model(
    route: PublishRoute, model_name: str, pyfunc_kwargs: dict[str, Any], tags: dict[str, str]
) -> ModelVersion:
    """Log the pyfunc model in the active run and register it as a new version."""
    if route == "logged-model":
        info = mlflow.pyfunc.log_model(name=MODEL_ARTIFACT_PATH, **pyfunc_kwargs)
        source = info.model_uri
    else:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / MODEL_ARTIFACT_PATH
            mlflow.pyfunc.save_model(path=str(local), **pyfunc_kwargs)
            mlflow.log_artifacts(str(local), MODEL_ARTIFACT_PATH)
        source = f"runs:/{mlflow.active_run().info.run_id}/{MODEL_ARTIFACT_PATH}"
    return mlflow.register_model(source, model_name, tags=tags)


def resolve_alias(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None (no model, no alias yet)."""
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if exc.error_code not in (
            "RESOURCE_DOES_NOT_EXIST",
            "INVALID_PARAMETER_VALUE",
            "NOT_FOUND",
        ):
            raise
    # Tag fallback for registries without aliases: newest version carrying the tag.
    try:
        tagged = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        return None
    tagged = [v for v in tagged if v.tags.get(alias_tag(alias)) == "true"]
    return max(tagged, key=lambda v: int(v.version)) if tagged else None


def promote(client: MlflowClient, model_name: str, alias: str, version: str) -> str:
    """Point ``alias`` at ``version``. Returns how: 'alias' or 'tag' (fallback)."""
    try:
        client.set_registered_model_alias(model_name, alias, version)
        return "alias"
    except MlflowException as exc:
        _log.warning("registry refused alias %r (%s); falling back to a tag", alias, exc.message)
    previous = resolve_alias(client, model_name, alias)
    client.set_model_version_tag(model_name, version, alias_tag(alias), "true")
    if previous is not None and str(previous.version) != str(version):
        client.delete_model_version_tag(model_name, previous.version, alias_tag(alias))
    return "tag"
