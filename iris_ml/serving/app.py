"""The app each uvicorn worker serves (``uvicorn --factory iris_ml.serving.app:create_app``).

MLflow's own scoring app (``scoring_server.init``) for the model, or the champion
follower around such apps, behind the serving layer (metrics, request ids, clean
errors, request log) with the model wrapped to report what it scored (metrics,
payload log). The launcher (``iris_ml/serving/launcher.py``) hands the settings over in
``$IRIS_SERVING``.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from iris_ml.contract import MODEL_VERSION_KEY, configured_version
from iris_ml.linear_scorer import LinearScorer, scorer_file
from iris_ml.serving.auth import ServingKeys, configured_keys
from iris_ml.serving.follow.follower import create_follower
from iris_ml.serving.handoff import FOLLOW_ENV, LayerSettings
from iris_ml.serving.layer import ServingLayer
from iris_ml.serving.lazy_app import LazyMlflowApp
from iris_ml.serving.metrics import ServingMetrics
from iris_ml.serving.observed_model import ObservedModel
from iris_ml.serving.payload_log import PayloadLog
from iris_ml.settings import DEFAULT_MODEL_NAME


def _log_to_stderr(name: str, fmt: str) -> None:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(fmt))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def create_app() -> ServingLayer:
    settings = LayerSettings.from_env()
    _log_to_stderr("iris_ml.access", "%(message)s")  # the JSON line alone
    for name in ("iris_ml.serving", "iris_ml.payloads"):
        _log_to_stderr(name, "%(asctime)s %(name)s[%(process)d] %(message)s")
    keys = configured_keys(settings.key_file, os.environ)  # the launcher has checked them
    served_keys = ServingKeys.of(keys) if keys else None
    metrics = ServingMetrics()
    metrics.flush_every()
    atexit.register(metrics.flush)  # a stopping worker counts what it scored last
    payloads = None
    if settings.payloads is not None:
        payloads = PayloadLog(
            settings.payloads,
            on_drop=lambda reason, rows: metrics.payload_dropped.labels(reason).inc(rows),
        ).start()
        atexit.register(payloads.close)  # a worker stopped by SIGTERM/SIGINT writes what it holds

    def wrap(model: Any, version: str | None) -> ObservedModel:
        return ObservedModel(model, version, metrics, payloads)

    options: dict[str, Any] = {
        "limits": settings.limits,
        "keys": served_keys,
        "fast_path": settings.fast_path,
        "model_name": settings.model_name or DEFAULT_MODEL_NAME,
    }
    if os.environ.get(FOLLOW_ENV):
        follower = create_follower(wrap)
        return ServingLayer(
            follower,
            lambda: follower.current.version,
            metrics,
            settings.log_requests,
            model_of=lambda: follower.serving().model,
            health=follower.health,
            **options,
        )
    observed, app = _pinned_app(settings, metrics, payloads)
    return ServingLayer(
        app,
        lambda: settings.version,
        metrics,
        settings.log_requests,
        model_of=lambda: observed,
        health=lambda: pinned_health(settings),
        **options,
    )


def _pinned_app(
    settings: LayerSettings, metrics: ServingMetrics, payloads: PayloadLog | None
) -> tuple[ObservedModel, Any]:
    """The served model and MLflow's app on it: built now, or when a request first needs it.

    A model with a linear scorer (``linear_scorer.py``) is scored without MLflow until a
    request needs MLflow's handler; one without (another estimator, an older version)
    and ``--eager-mlflow`` load MLflow's app at start, as before.
    """
    path = Path(str(settings.model_path))
    if settings.eager_mlflow or not scorer_file(path).is_file():
        from mlflow.pyfunc import scoring_server

        model = scoring_server.load_model_with_mlflow_config(str(path))
        observed = ObservedModel(model, settings.version, metrics, payloads)
        return observed, scoring_server.init(observed)  # type: ignore[arg-type]  # duck typed
    # The version the pyfunc would echo: the model_config the launcher hands MLflow.
    model_config = json.loads(os.environ.get("SERVING_MODEL_CONFIG") or "{}")
    scorer = LinearScorer.read(scorer_file(path), configured_version(model_config))

    def load_pyfunc() -> Any:
        from mlflow.pyfunc import scoring_server

        return scoring_server.load_model_with_mlflow_config(str(path))

    def build_app() -> Any:
        from mlflow.pyfunc import scoring_server

        return scoring_server.init(observed)  # type: ignore[arg-type]  # a PyFuncModel by duck typing

    observed = ObservedModel.lazy(load_pyfunc, scorer, settings.version, metrics, payloads)
    gc.freeze()  # what start-up loaded stays for the server's life: out of the collector's walk
    return observed, LazyMlflowApp(build_app)


def pinned_health(settings: LayerSettings) -> dict[str, Any]:
    """``/health`` of a server that serves one version: which, and whether the gate passed it."""
    rejected = settings.gate_rejected
    return {
        # Still 200: the version was asked for by name; "warning" says it is not a champion.
        "status": "warning" if rejected else "ok",
        "model_name": settings.model_name,
        MODEL_VERSION_KEY: settings.version,
        "following": False,
        "gate_rejected": rejected,
    }
