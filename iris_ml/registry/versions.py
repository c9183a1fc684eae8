"""Registering and promoting the model in the MLflow registry.

Two routes exist because Azure ML's tracking server has no logged-models API
(MLflow 3 ``log_model`` fails there with a 404). ``publish_route`` chooses
once, from the tracking URI or by asking the server; everything else is shared:

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
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from iris_ml.registry.tags import alias_tag

PublishRoute = Literal["logged-model", "run-artifacts"]
PUBLISH_ROUTES: tuple[PublishRoute, ...] = ("logged-model", "run-artifacts")
# Forces a route where probing cannot tell (a proxy that answers the probe but not the upload).
PUBLISH_ROUTE_ENV = "IRIS_PUBLISH_ROUTE"
MODEL_ARTIFACT_PATH = "model"
_log = logging.getLogger(__name__)
# What a registry answers for "no such alias" or "aliases unsupported" (Azure ML: a route it
# lacks is a 404 with an empty body, ENDPOINT_NOT_FOUND); anything else is a real failure.
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


def route_missing(exc: MlflowException) -> bool:
    """The tracking server lacks this REST route (Azure ML answers such calls 404, empty body)."""
    return exc.error_code == "ENDPOINT_NOT_FOUND"


def publish_route(
    tracking_uri: str, client: MlflowClient | None = None, experiment_id: str | None = None
) -> PublishRoute:
    """The one place that decides how a model reaches the registry.

    ``$IRIS_PUBLISH_ROUTE`` wins; an ``azureml:`` URI has no logged models; otherwise ask
    the server (one cheap search) whether it has MLflow 3's logged-models API.
    """
    forced = os.environ.get(PUBLISH_ROUTE_ENV)
    if forced:
        if forced not in PUBLISH_ROUTES:
            raise ValueError(f"{PUBLISH_ROUTE_ENV}={forced!r}: expected one of {PUBLISH_ROUTES}")
        return forced
    if tracking_uri.startswith("azureml:"):
        return "run-artifacts"
    if client is None or experiment_id is None:
        return "logged-model"
    try:
        client.search_logged_models(experiment_ids=[experiment_id], max_results=1)
    except MlflowException as exc:
        if route_missing(exc):
            return "run-artifacts"
        raise
    return "logged-model"


def _active_run_id() -> str:
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("publish_model runs inside an MLflow run")
    return str(run.info.run_id)


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
        source = f"runs:/{_active_run_id()}/{MODEL_ARTIFACT_PATH}"
    return mlflow.register_model(source, model_name, tags=tags)


def resolve_alias(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the model or the alias does not exist yet.

    A registry without aliases is asked for the version tagged ``alias.<name>=true``
    instead (see ``promote``). Any other failure, of either lookup, is raised: a registry
    that cannot be read is not a registry without a champion.
    """
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if exc.error_code not in _NO_ALIAS_CODES:
            raise
    # Tag fallback for registries without aliases: newest version carrying the tag.
    versions = client.search_model_versions(f"name='{model_name}'")
    tagged = [v for v in versions if v.tags.get(alias_tag(alias)) == "true"]
    return max(tagged, key=lambda v: int(v.version)) if tagged else None


def promote(client: MlflowClient, model_name: str, alias: str, version: str) -> str:
    """Point ``alias`` at ``version``. Returns how: 'alias' or 'tag' (fallback)."""
    try:
        client.set_registered_model_alias(model_name, alias, version)
        return "alias"
    except MlflowException as exc:
        if exc.error_code not in _NO_ALIAS_CODES:
            raise
        _log.info("registry refused alias %r (%s); promoting by tag", alias, exc.error_code)
    previous = resolve_alias(client, model_name, alias)
    client.set_model_version_tag(model_name, version, alias_tag(alias), "true")
    if previous is not None and str(previous.version) != str(version):
        client.delete_model_version_tag(model_name, previous.version, alias_tag(alias))
    return "tag"


def _client() -> MlflowClient:
    from mlflow import tracking  # looked up at call time: the current tracking URI's client

    return tracking.MlflowClient()


def aliased_version(
    model_name: str, alias: str, client: MlflowClient | None = None
) -> ModelVersion | None:
    """The version ``alias`` names now (``resolve_alias`` with the current store's client)."""
    return resolve_alias(client or _client(), model_name, alias)


def registered_version(
    model_name: str, version: str, client: MlflowClient | None = None
) -> ModelVersion | None:
    """One registered version, or None when the model has no such version."""
    try:
        return (client or _client()).get_model_version(model_name, version)
    except MlflowException as exc:
        if exc.error_code in _NO_ALIAS_CODES:  # RESOURCE_DOES_NOT_EXIST and its kin
            return None
        raise
