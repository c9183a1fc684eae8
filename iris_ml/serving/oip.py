"""The Open Inference Protocol v2 over REST: KServe's and Triton's clients, on the served model.

An adapter like MLflow's ``/invocations``: it decodes a request into the contract's
feature matrix and encodes the contract's answer; the model checks, scores, counts and
logs the rows below it (``ObservedModel.score_matrix``), as for every protocol.

The protocol is kserve/open-inference-protocol, ``specification/protocol/inference_rest.md``
and its OpenAPI document ``open_inference_rest.yaml``; every answer here validates
against that document (tests/unit/serving/test_oip.py reads a copy of it).

* inputs: one ``[N, 4]`` tensor named ``features`` (columns in FEATURE_NAMES order), or
  one ``[N]`` (or ``[N, 1]``) tensor per feature, named by the feature; FP32 or FP64; the
  data nested as the shape says or flattened in row-major order. Each value is scored as
  the JSON number sent (an FP32 tensor's values are not rounded to 32 bits first).
* outputs: ``species`` (BYTES, ``[N]``) and ``probabilities`` (FP64, ``[N, 3]``, columns
  in SPECIES order); a request's ``outputs`` list picks some of them, in its order.
* the request's ``id`` comes back as sent; ``model_version`` is the version that scored.
* errors: ``{"error": "..."}`` with a 4xx for anything the caller can fix, never a null
  where the document asks for an object, an array or a string.

Triton's binary tensor extension is not spoken: its requests are refused with a 400 that
says how to send JSON instead (tritonclient: ``binary_data=False``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import orjson

from iris_ml.contract import FEATURE_NAMES, MAX_ROWS_PER_REQUEST, SPECIES, UNIT, media_type

SERVER_NAME = "iris-ml"
PLATFORM = "mlflow_pyfunc"  # the protocol's "<project>_<format>"
FEATURES_INPUT = "features"
SPECIES_OUTPUT = "species"
PROBABILITIES_OUTPUT = "probabilities"
OUTPUTS = (SPECIES_OUTPUT, PROBABILITIES_OUTPUT)
FLOAT_TYPES = ("FP64", "FP32")
# Triton's binary extension: the JSON is followed by raw tensors, its length in this header.
BINARY_HEADER = b"inference-header-content-length"
_SAY_JSON = "send the tensors as JSON (tritonclient: binary_data=False)"
_MODEL_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?")


class OipError(Exception):
    """A request this protocol refuses: ``status`` and the one-line ``error`` it answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Route:
    """Which protocol endpoint a path names (``kind``), and for which model and version."""

    kind: str  # "live", "ready", "server", "model", "model_ready" or "infer"
    model: str | None = None
    version: str | None = None  # None: whichever version the server serves

    @property
    def method(self) -> str:
        return "POST" if self.kind == "infer" else "GET"

    @property
    def label(self) -> str:
        """The route's name in metrics and logs: no model name or version from the URL."""
        return _LABELS[self.kind]


_LABELS = {
    "live": "/v2/health/live",
    "ready": "/v2/health/ready",
    "server": "/v2",
    "model": "/v2/models/{model}",
    "model_ready": "/v2/models/{model}/ready",
    "infer": "/v2/models/{model}/infer",
}
ROUTE_LABELS = tuple(_LABELS.values())
_FIXED = {"/v2": "server", "/v2/": "server", "/v2/health/live": "live", "/v2/health/ready": "ready"}


def is_oip(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def route(path: str) -> Route | None:
    """The endpoint a ``/v2`` path names, or None when it names none."""
    if kind := _FIXED.get(path):
        return Route(kind)
    found = _MODEL_PATH.fullmatch(path)
    if found is None:
        return None
    name, version, tail = found.groups()
    kind = {None: "model", "/ready": "model_ready", "/infer": "infer"}[tail]
    return Route(kind, name, version)


def check_model(found: Route, served_name: str, served_version: str | None) -> None:
    """Refuse (404) a model or version this server does not serve."""
    if found.model != served_name:
        raise OipError(404, f"no model {found.model!r} here: this server serves {served_name!r}")
    if found.version is not None and found.version != served_version:
        served = f"version {served_version}" if served_version else "an unversioned model"
        raise OipError(404, f"version {found.version!r} of {served_name!r} is not served: {served}")


def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": metadata.version("iris-ml"), "extensions": []}


def model_metadata(name: str, version: str | None) -> dict[str, Any]:
    """What the model takes and gives; ``properties`` names the columns of each matrix."""
    answer: dict[str, Any] = {"name": name}
    if version is not None:
        answer["versions"] = [version]
    answer |= {
        "platform": PLATFORM,
        "inputs": [{"name": FEATURES_INPUT, "datatype": "FP64", "shape": [-1, len(FEATURE_NAMES)]}],
        "outputs": [
            {"name": SPECIES_OUTPUT, "datatype": "BYTES", "shape": [-1]},
            {"name": PROBABILITIES_OUTPUT, "datatype": "FP64", "shape": [-1, len(SPECIES)]},
        ],
        "properties": {
            FEATURES_INPUT: ",".join(FEATURE_NAMES),
            PROBABILITIES_OUTPUT: ",".join(SPECIES),
            "unit": UNIT,
            "per_feature_inputs": "one [N] tensor per feature, named by the feature",
        },
    }
    return answer


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request: the features, and what the answer must carry."""

    matrix: np.ndarray  # rows x FEATURE_NAMES, float64
    id: str | None
    outputs: tuple[str, ...]


def content_type_problem(headers: Mapping[bytes, bytes]) -> str | None:
    """Why an inference body's type is refused (415); None for JSON or no type at all.

    tritonclient sends no Content-Type, and the protocol's body is JSON either way.
    """
    sent = headers.get(b"content-type", b"").decode("latin-1")
    mime, parameters = media_type(sent)
    if mime in ("", "application/json") and parameters.get("charset", "utf-8").lower() == "utf-8":
        return None
    return f"Content-Type {sent!r} is not accepted here: send application/json"


def decode_infer(body: bytes, headers: Mapping[bytes, bytes]) -> InferRequest:
    """The features and wishes of an inference request, or an OipError saying what is wrong."""
    if BINARY_HEADER in headers:
        raise OipError(400, f"binary tensor data is not supported: {_SAY_JSON}")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OipError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise OipError(400, "the body must be a JSON object with 'inputs'")
    unknown = sorted(set(payload) - {"id", "parameters", "inputs", "outputs"})
    if unknown:
        raise OipError(400, f"unknown field(s) {unknown} in the request")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise OipError(400, "'id' must be a string")
    _check_parameters(payload.get("parameters"), "the request", ())
    # The byte search keeps the per-value look for booleans off the usual request.
    maybe_boolean = b"true" in body or b"false" in body
    features = _features(payload.get("inputs"), maybe_boolean)
    return InferRequest(features, request_id, _outputs(payload))


def _check_parameters(parameters: Any, where: str, allowed: Sequence[str]) -> None:
    if parameters is None:
        return
    if not isinstance(parameters, dict):
        raise OipError(400, f"'parameters' of {where} must be an object")
    if "binary_data_size" in parameters or parameters.get("binary_data") is True:
        raise OipError(400, f"binary tensor data is not supported: {_SAY_JSON}")
    if parameters.get("binary_data_output") is True:
        raise OipError(400, f"binary outputs are not supported: name the outputs and {_SAY_JSON}")
    ignored = {"binary_data": False, "binary_data_output": False}  # JSON, which it is anyway
    unknown = sorted(k for k, v in parameters.items() if k not in allowed and ignored.get(k) != v)
    if unknown:
        raise OipError(400, f"{where} takes no parameter {unknown[0]!r}")


def _features(inputs: Any, maybe_boolean: bool) -> np.ndarray:
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise OipError(400, "'inputs' must be a non-empty list of tensors")
    tensors = [_tensor(i, maybe_boolean) for i in inputs]
    names = [name for name, _ in tensors]
    if names == [FEATURES_INPUT]:
        matrix = tensors[0][1]
        if matrix.ndim != 2 or matrix.shape[1] != len(FEATURE_NAMES):
            raise OipError(400, f"{FEATURES_INPUT!r} must have the shape [N, {len(FEATURE_NAMES)}]")
        return _rows_checked(matrix)
    if sorted(names) == sorted(FEATURE_NAMES):
        return _rows_checked(_columns(dict(tensors)))
    expected = f"one tensor {FEATURES_INPUT!r} [N, 4], or one per feature {list(FEATURE_NAMES)}"
    raise OipError(400, f"inputs {names} do not match the model: send {expected}")


def _columns(by_name: dict[str, np.ndarray]) -> np.ndarray:
    columns = []
    for name in FEATURE_NAMES:
        column = by_name[name]
        if column.ndim == 2 and column.shape[1] == 1:
            column = column[:, 0]
        if column.ndim != 1:
            raise OipError(400, f"{name!r} must have the shape [N] or [N, 1]")
        columns.append(column)
    if len({len(c) for c in columns}) != 1:
        raise OipError(400, "the feature tensors must have the same number of rows")
    return np.column_stack(columns)


def _rows_checked(matrix: np.ndarray) -> np.ndarray:
    if not 1 <= len(matrix) <= MAX_ROWS_PER_REQUEST:
        raise OipError(400, f"send 1 to {MAX_ROWS_PER_REQUEST} rows; got {len(matrix)}")
    return np.ascontiguousarray(matrix, dtype=np.float64)


def _tensor(spec: dict[str, Any], maybe_boolean: bool) -> tuple[str, np.ndarray]:
    """One input tensor's name and values, shaped as it says: numbers only, no boolean."""
    name = spec.get("name")
    if not isinstance(name, str):
        raise OipError(400, "every input needs a 'name' (a string)")
    unknown = sorted(set(spec) - {"name", "shape", "datatype", "parameters", "data"})
    if unknown:
        raise OipError(400, f"unknown field(s) {unknown} in input {name!r}")
    _check_parameters(spec.get("parameters"), f"input {name!r}", ())
    shape, datatype, data = spec.get("shape"), spec.get("datatype"), spec.get("data")
    if not isinstance(shape, list) or not all(_is_dimension(d) for d in shape):
        raise OipError(400, f"the shape of {name!r} must be a list of non-negative integers")
    if datatype not in FLOAT_TYPES:
        raise OipError(400, f"input {name!r} is {datatype!r}: send FP64 or FP32")
    if not isinstance(data, list):
        raise OipError(400, f"the data of {name!r} must be a list of numbers")
    try:
        values = np.array(data)  # no dtype: a string, a null or a ragged row shows in it
    except (ValueError, TypeError, OverflowError):
        raise OipError(400, f"the data of {name!r} does not match its shape {shape}") from None
    if values.dtype.kind not in "iuf" or (maybe_boolean and _holds_boolean(data)):
        raise OipError(400, f"the data of {name!r} must be numbers (no string, null or boolean)")
    if values.size != math.prod(shape) or (values.ndim > 1 and list(values.shape) != shape):
        raise OipError(400, f"the data of {name!r} does not match its shape {shape}")
    return name, values.reshape(shape)


def _is_dimension(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _holds_boolean(data: list[Any]) -> bool:
    """Whether numpy turned a JSON ``true`` or ``false`` among numbers into 1.0 or 0.0."""
    while data and isinstance(data[0], list):
        data = [v for row in data for v in row]
    return any(v is True or v is False for v in data)


def _outputs(payload: dict[str, Any]) -> tuple[str, ...]:
    requested = payload.get("outputs")
    if requested is None:
        return OUTPUTS
    if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
        raise OipError(400, "'outputs' must be a list of objects with a 'name'")
    names = []
    for output in requested:
        name = output.get("name")
        if name not in OUTPUTS:
            raise OipError(400, f"no output {name!r}: the model gives {list(OUTPUTS)}")
        if name in names:
            raise OipError(400, f"output {name!r} is asked for twice")
        unknown = sorted(set(output) - {"name", "parameters"})
        if unknown:
            raise OipError(400, f"unknown field(s) {unknown} in output {name!r}")
        _check_parameters(output.get("parameters"), f"output {name!r}", ())
        names.append(name)
    return tuple(names)


def encode_infer(
    request: InferRequest,
    model_name: str,
    model_version: str | None,
    species: Sequence[str],
    probabilities: np.ndarray,
) -> bytes:
    """The inference response for what the model answered (no field is ever null)."""
    rows = len(species)
    tensors = {
        SPECIES_OUTPUT: {"name": SPECIES_OUTPUT, "shape": [rows], "datatype": "BYTES",
                         "data": list(species)},
        PROBABILITIES_OUTPUT: {"name": PROBABILITIES_OUTPUT, "shape": [rows, len(SPECIES)],
                               "datatype": "FP64", "data": probabilities.ravel()},
    }  # fmt: skip
    answer: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        answer["model_version"] = model_version
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = [tensors[name] for name in request.outputs]
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


def error_body(message: str, request_id: str, error_code: str) -> bytes:
    """The protocol's error object, with the layer's code and request id beside ``error``."""
    return orjson.dumps({"error": message, "error_code": error_code, "request_id": request_id})
