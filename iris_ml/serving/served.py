"""One model folder as a worker serves it: the observed model and MLflow's app on it.

A folder with a linear scorer (``iris_ml/linear_scorer.py``) is scored with numpy alone
and MLflow's app is built on the first request that needs it (``lazy_app.py``); any other
folder, and ``--eager-mlflow``, load MLflow's app at once. A pinned server serves one
such folder; a following server one per version it prepares (``follow/``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iris_ml.contract import MODEL_VERSION_KEY
from iris_ml.linear_scorer import LinearScorer, scorer_file
from iris_ml.serving.lazy_app import LazyMlflowApp
from iris_ml.serving.metrics import ServingMetrics
from iris_ml.serving.observed_model import ObservedModel
from iris_ml.serving.payload_log import PayloadLog

# (model folder, version it echoes or None) -> (the observed model, the ASGI app serving it)
Serve = Callable[[str, str | None], tuple[ObservedModel, Any]]


def serving(
    metrics: ServingMetrics | None, payloads: PayloadLog | None, eager_mlflow: bool
) -> Serve:
    """How this worker serves a model folder."""

    def serve(path: str, version: str | None) -> tuple[ObservedModel, Any]:
        return serve_model(Path(path), version, metrics, payloads, eager_mlflow)

    return serve


def serve_model(
    path: Path,
    version: str | None,
    metrics: ServingMetrics | None,
    payloads: PayloadLog | None,
    eager_mlflow: bool,
) -> tuple[ObservedModel, Any]:
    """The model at ``path``, reporting ``version`` (None: a folder, not a registered version)."""
    if eager_mlflow or not scorer_file(path).is_file():
        from mlflow.pyfunc import scoring_server

        observed = ObservedModel(load_pyfunc(path, version), version, metrics, payloads)
        return observed, scoring_server.init(observed)  # type: ignore[arg-type]  # duck typed
    scorer = LinearScorer.read(scorer_file(path), version)

    def build_app() -> Any:
        from mlflow.pyfunc import scoring_server

        return scoring_server.init(observed)  # type: ignore[arg-type]  # a PyFuncModel by duck typing

    observed = ObservedModel.lazy(
        lambda: load_pyfunc(path, version), scorer, version, metrics, payloads
    )
    gc.freeze()  # what start-up loaded stays for the server's life: out of the collector's walk
    return observed, LazyMlflowApp(build_app)


def load_pyfunc(path: Path, version: str | None) -> Any:
    """MLflow's pyfunc, told the version to echo (MLflow's ``SERVING_MODEL_CONFIG`` does the same)."""
    import mlflow.pyfunc

    config = {MODEL_VERSION_KEY: version} if version is not None else None
    return mlflow.pyfunc.load_model(str(path), model_config=config)
