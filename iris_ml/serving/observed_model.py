"""The loaded model as MLflow's scoring app sees it, reporting what it scored and refused.

MLflow's app calls ``model.predict(data, params=...)`` after parsing the request, in a
thread that inherits the request's context (``asyncio.to_thread``). ``ObservedModel``
passes the call through unchanged and, when it runs inside a request of the serving
layer, counts the batch in the metrics, hands it to the payload log, and tells the layer
how many rows it scored. Calls outside a request (a follower's check of a new version)
are not counted. ``score_plain`` does the same for a plain request the serving layer
answers itself (``fast_path.py``), and ``score_matrix`` for a matrix any protocol
decoded (``oip.py``), scoring through the same classifier.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from iris_ml.contract import FEATURE_NAMES
from iris_ml.serving.encoding import Scored
from iris_ml.serving.metrics import ServingMetrics
from iris_ml.serving.payload_log import Batch, PayloadLog


@dataclass
class RequestContext:
    """One request as the layer and the model both see it (the model fills ``rows``)."""

    request_id: str
    rows: int | None = None
    answered_by: str = "mlflow"  # or "fast_path" (the layer scored it) or "layer" (it refused)
    protocol: str = "mlflow"  # or "oip" (/v2): the shape of its error answers


_log = logging.getLogger("iris_ml.serving")


class ModelRefusal(ValueError):
    """The served model refused a value; ``message`` says which and why, for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


current_request: ContextVar[RequestContext | None] = ContextVar("iris_request", default=None)


class ObservedModel:
    """A PyFuncModel with the same ``predict`` and metadata; MLflow's app serves it as is."""

    def __init__(
        self,
        model: Any,
        version: str | None,
        metrics: ServingMetrics | None = None,
        payloads: PayloadLog | None = None,
    ) -> None:
        self._loaded = model
        self._load: Callable[[], Any] | None = None
        self._load_lock = threading.Lock()
        self.version = version
        self._metrics = metrics
        self._payloads = payloads
        self._said = False
        self._classifier = _classifier(model)

    @classmethod
    def lazy(
        cls,
        load: Callable[[], Any],
        classifier: Any,
        version: str | None,
        metrics: ServingMetrics | None = None,
        payloads: PayloadLog | None = None,
    ) -> ObservedModel:
        """One whose pyfunc ``load()`` makes on first use; ``classifier`` scores until then.

        The classifier (a ``LinearScorer``) answers plain and OIP requests without MLflow;
        MLflow's app, ``predict`` and the metadata load the model the first time they are asked.
        """
        observed = cls(None, version, metrics, payloads)
        observed._load, observed._classifier = load, classifier
        return observed

    @property
    def _model(self) -> Any:
        if self._loaded is None and self._load is not None:
            with self._load_lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def __getattr__(self, name: str) -> Any:  # metadata, loader_module, ... as the model has them
        return getattr(self._model, name)

    @property
    def scores_plain(self) -> bool:
        """Whether ``score_plain`` can answer (our classifier, not another flavour)."""
        return self._classifier is not None

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        request = current_request.get()
        try:
            answers = self._model.predict(data, params=params)
        except Exception as exc:
            if request is not None and self._metrics is not None:
                # The model's InvalidInputError counts rows per problem; MLflow's own schema
                # errors (a missing column before the model runs) do not.
                self._metrics.refused(getattr(exc, "problems", None) or {(None, "other"): 1})
            raise
        if request is not None:
            request.rows = len(answers)
            self._observe_safely(request, lambda: _scored_values(data, len(answers)), answers)
        return answers

    def score_plain(self, matrix: np.ndarray) -> bytes | None:
        """The JSON answer MLflow's app gives for a plain request's matrix (fast_path.py).

        None when the model's own bounds refuse a value: MLflow's handler then answers
        (and the model refuses it there, with its message).
        """
        classifier = self._classifier
        if classifier is None or not classifier.accepts(matrix):
            return None
        return self._score_accepted(classifier, matrix).predictions_json(classifier.model_version)

    def score_matrix(self, matrix: np.ndarray) -> Scored:
        """What the model answers for a feature matrix (FEATURE_NAMES order), from any protocol.

        Our classifier scores a matrix within its bounds directly; anything else goes
        through ``predict`` with the columns named, where the model's own checks refuse
        it (``ModelRefusal``, with the model's message) and count it, as on every route.
        """
        classifier = self._classifier
        if classifier is not None and classifier.accepts(matrix):
            return self._score_accepted(classifier, matrix)
        import pandas as pd
        from mlflow.exceptions import MlflowException

        try:
            answers = self.predict(pd.DataFrame(matrix, columns=list(FEATURE_NAMES)))
        except MlflowException as exc:  # the model's InvalidInputError, MLflow's schema check
            raise ModelRefusal(exc.message) from None
        return Scored.from_answers(answers)

    def _score_accepted(self, classifier: Any, matrix: np.ndarray) -> Scored:
        scored = Scored.of(classifier.probabilities(matrix))
        request = current_request.get()
        if request is not None:
            request.rows = len(scored)
            self._observe_safely(request, lambda: matrix, scored)
        return scored

    def _observe_safely(
        self, request: RequestContext, values: Callable[[], np.ndarray], answers: Any
    ) -> None:
        try:
            self._observe(request, values, answers)
        except Exception as exc:  # watching must never fail an answer the model gave
            if not self._said:
                self._said = True
                _log.warning("could not record a scored batch: %r", exc)

    def _observe(
        self, request: RequestContext, values: Callable[[], np.ndarray], answers: Any
    ) -> None:
        payloads = self._payloads if self._payloads and self._payloads.sampled() else None
        if self._metrics is None and payloads is None:
            return
        matrix = values()
        scored = answers if isinstance(answers, Scored) else Scored.from_answers(answers)
        if self._metrics is not None:
            self._metrics.scored(matrix, scored.species)
        if payloads is not None:
            payloads.submit(Batch(time.time(), request.request_id, self.version, matrix, scored))


def _classifier(model: Any) -> Any:
    """Our IrisClassifier inside a loaded pyfunc, when it can score a checked matrix."""
    try:
        found = model.unwrap_python_model()
    except Exception:  # another flavour (plain sklearn), or not a pyfunc at all
        return None
    needs = ("accepts", "probabilities", "model_version")  # older versions lack them
    return found if all(hasattr(found, name) for name in needs) else None


def _scored_values(data: Any, rows: int) -> np.ndarray:
    """The four features as the model scored them (it accepted them, so they are numbers).

    ``data`` is what MLflow's parser made of the request: a DataFrame, or for ``inputs``
    and ``instances`` a dict of arrays, where a scalar stands for every row (the model
    scores it so, as pandas broadcasts it).
    """
    import pandas as pd

    if isinstance(data, Mapping):
        columns = [np.asarray(data[name], dtype=np.float64).reshape(-1) for name in FEATURE_NAMES]
        return np.column_stack([np.broadcast_to(c, (rows,)) for c in columns])
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if tuple(frame.columns) == FEATURE_NAMES:  # the usual request: one call
        return frame.to_numpy(dtype=np.float64)
    # Column by column: selecting four columns of MLflow's parsed frame first costs ~0.4 ms.
    return np.column_stack([frame[name].to_numpy(dtype=np.float64) for name in FEATURE_NAMES])
