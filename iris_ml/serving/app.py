"""The app each uvicorn worker serves (``uvicorn --factory iris_ml.serving.app:create_app``).

MLflow's own scoring app (``scoring_server.init``) for the model, or the champion
follower around such apps, behind the serving layer (metrics, request ids, clean
errors, request log) with the model wrapped to report what it scored (metrics,
payload log). The launcher (``iris_ml/serving/launcher.py``) hands the settings over in
``$IRIS_SERVING``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Any

from iris_ml.contract import MODEL_VERSION_KEY
from iris_ml.serving.auth import ServingKeys, configured_keys
from iris_ml.serving.follow.follower import create_follower
from iris_ml.serving.handoff import FOLLOW_ENV, LayerSettings
from iris_ml.serving.layer import ServingLayer
from iris_ml.serving.metrics import ServingMetrics
from iris_ml.serving.payload_log import PayloadLog
from iris_ml.serving.served import serving
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

    serve = serving(metrics, payloads, settings.eager_mlflow)
    options: dict[str, Any] = {
        "limits": settings.limits,
        "keys": served_keys,
        "fast_path": settings.fast_path,
        "model_name": settings.model_name or DEFAULT_MODEL_NAME,
    }
    if os.environ.get(FOLLOW_ENV):
        follower = create_follower(serve)
        return ServingLayer(
            follower,
            lambda: follower.current.version,
            metrics,
            settings.log_requests,
            model_of=lambda: follower.serving().model,
            health=follower.health,
            **options,
        )
    observed, app = serve(str(settings.model_path), settings.version)
    return ServingLayer(
        app,
        lambda: settings.version,
        metrics,
        settings.log_requests,
        model_of=lambda: observed,
        health=lambda: pinned_health(settings),
        **options,
    )


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
