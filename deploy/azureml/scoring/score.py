"""Azure ML scoring script: the registered MLflow model behind the project's own contract.

Run by ``azmlinfsrv`` (azureml-inference-server-http), the server inside Azure ML's
inference images. It accepts Azure's ``{"input_data": {"columns", "index", "data"}}``
and MLflow's ``dataframe_split`` / ``dataframe_records`` / ``instances`` / ``inputs``,
and answers like ``mlflow models serve``: ``{"predictions": [...]}`` with species and
probabilities. Bad input gets a 400 with a clean message; nothing answers with a
stack trace (it goes to the log, with the request id).

The request id azmlinfsrv keeps (the caller's ``x-request-id`` or
``x-ms-client-request-id``, else its own) is in every error body, the log lines of a
failure and the collected rows, as in App Insights. With the
deployment's ``data_collector`` on, Azure ML's collector (azureml-ai-monitoring) gets
the validated features (``model_inputs``) and the answers (``model_outputs``) of each
scored request, in the local payload log's columns; if it is missing or fails, scoring
goes on and the log says so once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

MODEL_VERSION_ENV = "IRIS_MODEL_VERSION"
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
AZURE_KEY = "input_data"

_log = logging.getLogger("iris.score")
_state: dict[str, Any] = {}


class RequestError(ValueError):
    """A request the contract cannot score; becomes a 4xx with ``str(self)`` as the message."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def find_model_dir(root: Path) -> Path:
    """The folder holding ``MLmodel`` under AZUREML_MODEL_DIR (Azure nests it one level down)."""
    if (root / "MLmodel").is_file():
        return root
    found = sorted(p.parent for p in root.rglob("MLmodel"))
    if not found:
        raise FileNotFoundError(f"no MLmodel file under {root}")
    return found[0]


def version_from_path(root: Path) -> str | None:
    """Azure mounts a registered model at .../azureml-models/<name>/<version>."""
    match = re.search(r"azureml-models/[^/]+/(\d+)(/|$)", root.as_posix())
    return match.group(1) if match else None


def to_mlflow_payload(
    body: bytes, content_type: str | None, encoding: str | None = None
) -> dict[str, Any]:
    """Decode a request body into one MLflow-format payload, or raise RequestError."""
    from iris_ml.contract import MAX_BODY_BYTES, MAX_JSON_DEPTH, nested_too_deep

    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB", 413)
    if (encoding or "identity").strip().lower() != "identity":
        raise RequestError(f"Content-Encoding {encoding!r} is not decoded here: send it plain", 415)
    _check_content_type(content_type)
    if nested_too_deep(body):  # json.loads would fail on it with a RecursionError
        raise RequestError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8 text") from None
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestError(f"expected a JSON object with one of {[AZURE_KEY, *MLFLOW_KEYS]}")
    keys = [k for k in (AZURE_KEY, *MLFLOW_KEYS) if k in payload]
    if len(keys) != 1:
        raise RequestError(
            f"expected exactly one of {[AZURE_KEY, *MLFLOW_KEYS]}, got {sorted(payload)}"
        )
    key = keys[0]
    return {key: payload[key]} if key != AZURE_KEY else _from_azure_input(payload[AZURE_KEY])


def _check_content_type(content_type: str | None) -> None:
    """JSON in UTF-8 only (no header means JSON, as Azure's samples send it)."""
    from iris_ml.contract import media_type

    mime, parameters = media_type(content_type or "application/json")
    mime = mime.lower()
    if mime != "application/json":
        raise RequestError(f"send Content-Type: application/json, not {mime!r}", 415)
    charset = next(
        (v.strip().strip('"').lower() for k, v in parameters.items() if k.lower() == "charset"),
        "utf-8",
    )
    if charset not in ("utf-8", "utf8"):
        raise RequestError(f"only UTF-8 bodies are accepted, not charset {charset!r}", 415)


def _from_azure_input(table: Any) -> dict[str, Any]:
    """Azure ML's ``input_data`` (split columns/data, or records) as MLflow's own format."""
    if isinstance(table, dict) and "data" in table:
        return {"dataframe_split": {k: table[k] for k in ("columns", "data") if k in table}}
    if isinstance(table, list):
        return {"dataframe_records": table}
    raise RequestError(
        "input_data must be {'columns': [...], 'data': [[...]]} or a list of row objects"
    )


def refuse_misread(payload: dict[str, Any]) -> None:
    """Refuse what MLflow's parser misreads or fails on, as the project's server does.

    It reads ``true`` as 1.0, and answers a column name that is a list or an object with
    an exception of its own (a 500).
    """
    # The contract travels with the model (its code path), loaded by init().
    from iris_ml.contract import boolean_cells, format_row_errors, split_columns_problem

    if problem := split_columns_problem(payload):
        raise RequestError(f"Invalid input: {problem}", error_code="INVALID_PARAMETER_VALUE")
    if cells := boolean_cells(payload):
        message = f"Invalid input: {format_row_errors(cells)}"
        raise RequestError(message, error_code="INVALID_PARAMETER_VALUE")


def clean_message(message: str) -> str:
    """MLflow's schema errors echo the whole input before the reason: keep the reason."""
    if message.startswith("Failed to ") and "Error: " in message:
        message = message.rsplit("Error: ", 1)[1]
    return message.strip()[:1000]


Collect = Callable[[str, Any, Sequence[dict[str, Any]]], None]


def score(
    model: Any,
    input_schema: Any,
    body: bytes,
    content_type: str | None,
    request_id: str = "",
    collect: Collect | None = None,
    encoding: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """The whole request path as a function: (status, JSON body). Never raises."""
    status, answer = _score(model, input_schema, body, content_type, request_id, collect, encoding)
    if status != 200:
        answer["request_id"] = request_id
    return status, answer


def _score(
    model: Any,
    input_schema: Any,
    body: bytes,
    content_type: str | None,
    request_id: str,
    collect: Collect | None,
    encoding: str | None,
) -> tuple[int, dict[str, Any]]:
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    try:
        payload = to_mlflow_payload(body, content_type, encoding)
        refuse_misread(payload)
        frame = infer_and_parse_data(payload, input_schema)
        predictions = model.predict(frame)
    except RequestError as exc:
        return exc.status, {"error_code": exc.error_code, "message": str(exc)}
    except MlflowException as exc:
        status = exc.get_http_status_code()
        if 400 <= status < 500:  # the request's fault: say what is wrong with it
            return status, {"error_code": exc.error_code, "message": clean_message(exc.message)}
        _log.exception("request %s: scoring failed", request_id)  # details in the log only
        return _model_failed()
    except Exception:  # the model failed on input it accepted: log it, answer without internals
        _log.exception("request %s: scoring failed", request_id)
        return _model_failed()
    if collect is not None:
        collect(request_id, frame, predictions)
    return 200, {"predictions": predictions}


def _model_failed() -> tuple[int, dict[str, Any]]:
    return 500, {
        "error_code": "INTERNAL_ERROR",
        "message": "the model failed; see the deployment logs",
    }


def request_id_of(headers: Any) -> str:
    """The id azmlinfsrv logs for this request (to App Insights too) and answers with.

    It keeps the caller's ``x-request-id`` (up to 100 characters; longer ones it refuses
    with a 431 before this script runs), then ``x-ms-client-request-id``; else it makes one
    up, which only its request context (flask's ``g``) holds.
    """
    from iris_ml.contract import REQUEST_ID_HEADERS

    for name in REQUEST_ID_HEADERS:
        if value := headers.get(name):
            return str(value)
    try:
        from flask import g

        return str(g.get("request_id") or uuid.uuid4().hex)
    except (ImportError, RuntimeError):  # outside azmlinfsrv's request context
        return uuid.uuid4().hex


def collected_frames(
    request_id: str, version: str, frame: Any, predictions: Sequence[dict[str, Any]], at: float
) -> tuple[Any, Any]:
    """(model_inputs, model_outputs) as DataFrames in the payload log's columns."""
    import pandas as pd

    from iris_ml.contract import (
        FEATURE_NAMES,
        MODEL_VERSION_KEY,
        PROBABILITIES_KEY,
        PROBABILITY_COLUMNS,
        SPECIES,
        SPECIES_KEY,
    )

    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    rows = len(predictions)
    head = {
        "time": [stamp] * rows,
        "request_id": [request_id] * rows,
        MODEL_VERSION_KEY: [version] * rows,
    }
    inputs = pd.DataFrame(head).join(
        frame[list(FEATURE_NAMES)].astype("float64").reset_index(drop=True)
    )
    answers = {SPECIES_KEY: [p[SPECIES_KEY] for p in predictions]}
    for column, species in zip(PROBABILITY_COLUMNS, SPECIES, strict=True):
        answers[column] = [float(p[PROBABILITIES_KEY][species]) for p in predictions]
    outputs = pd.DataFrame({**head, **answers})
    return inputs, outputs


class DataCollection:
    """Azure ML's data collector for the scored rows, or nothing when it cannot run.

    Optional by design: azureml-ai-monitoring has had releases whose import broke
    (azureml-examples issues), and a collector that fails must never fail a request.
    """

    def __init__(self, version: str) -> None:
        self.version = version
        self._inputs: Any = None
        self._outputs: Any = None
        self._said = False

    def start(self) -> DataCollection:
        try:
            from azureml.ai.monitoring import Collector

            self._inputs = Collector(name="model_inputs", on_error=self._failed)
            self._outputs = Collector(name="model_outputs", on_error=self._failed)
        except Exception as exc:
            self._inputs = self._outputs = None
            self._failed(exc, "data collection is off")
        return self

    def __call__(self, request_id: str, frame: Any, predictions: Sequence[dict[str, Any]]) -> None:
        if self._inputs is None:
            return
        try:
            inputs, outputs = collected_frames(
                request_id, self.version, frame, predictions, time.time()
            )
            context = self._inputs.collect(inputs)
            self._outputs.collect(outputs, context)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception, what: str = "data collection failed") -> None:
        if not self._said:  # once: a collector that fails on every request must not flood the log
            self._said = True
            _log.warning("%s (%s: %s); scoring goes on without it", what, type(exc).__name__, exc)


def init() -> None:
    import mlflow.pyfunc

    root = Path(os.environ["AZUREML_MODEL_DIR"])
    version = os.environ.get(MODEL_VERSION_ENV) or version_from_path(root) or ""
    model = mlflow.pyfunc.load_model(
        str(find_model_dir(root)), model_config={"model_version": version}
    )
    _state["model"] = model
    _state["schema"] = model.metadata.get_input_schema()
    _state["collect"] = DataCollection(version).start()
    _log.info("loaded model version %s", version or "unknown")


@rawhttp
def run(request: Any) -> AMLResponse:
    if request.method != "POST":
        return AMLResponse({"message": "POST a JSON body to score"}, 405, json_str=True)
    rid = request_id_of(request.headers)
    status, body = score(
        _state["model"],
        _state["schema"],
        request.get_data(),
        request.headers.get("Content-Type"),
        rid,
        _state["collect"],
        request.headers.get("Content-Encoding"),
    )
    return AMLResponse(body, status, json_str=True)  # azmlinfsrv adds x-request-id
