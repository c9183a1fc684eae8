"""The two payload dialects behind one interface: MLflow's scoring server and Azure ML.

Both are pure: rows in, request body and headers out; response body in,
prediction rows out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from iris_ml.contract import FEATURE_NAMES, PROBABILITIES_KEY, SPECIES, SPECIES_KEY

BackendName = Literal["mlflow", "azureml"]
AZURE_HOST_SUFFIX = ".inference.ml.azure.com"
_SPECIES_SET = frozenset(SPECIES)
# Probabilities as decode_json gives them (number text or int), or as json.loads does (float).
_NUMBER_TYPES = frozenset({str, int, float})


@dataclass(frozen=True)
class Backend:
    name: BackendName
    #: key holding the split-oriented table: MLflow's ``dataframe_split``, Azure's ``input_data``
    payload_key: str

    def encode(self, rows: Sequence[Sequence[float]]) -> bytes:
        """The request body for validated rows, each a list of values in ``FEATURE_NAMES`` order."""
        table: dict[str, Any] = {"columns": list(FEATURE_NAMES), "data": rows}
        if self.name == "azureml":
            table["index"] = list(range(len(rows)))
        # allow_nan=False: a NaN that slipped past validation must never be sent as NaN.
        return json.dumps({self.payload_key: table}, allow_nan=False).encode()

    def headers(self, api_key: str | None, deployment: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if deployment and self.name == "azureml":
            headers["azureml-model-deployment"] = deployment
        return headers


MLFLOW = Backend("mlflow", "dataframe_split")
AZUREML = Backend("azureml", "input_data")
BACKENDS: dict[str, Backend] = {"mlflow": MLFLOW, "azureml": AZUREML}


def detect_backend(url: str) -> Backend:
    """Azure ML for ``*.inference.ml.azure.com`` hosts and ``/score`` paths, else MLflow."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.endswith(AZURE_HOST_SUFFIX) or parts.path.rstrip("/").endswith("/score"):
        return AZUREML
    return MLFLOW


def scoring_url(url: str, backend: Backend) -> str:
    """The URL to POST to: a bare MLflow server address gets ``/invocations`` appended."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {redact_url(url)}")
    if backend is MLFLOW and not parts.path.rstrip("/").endswith("/invocations"):
        path = parts.path.rstrip("/") + "/invocations"
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    return url


def redact_url(url: str) -> str:
    """The URL without user info or query string (either may carry a credential)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def decode_predictions(body: Any, expected_rows: int) -> list[dict[str, Any]]:
    """Accept ``{"predictions": [...]}`` or a bare list; check each row is the contract's shape."""
    rows = body.get("predictions") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise ValueError("the response has no list of predictions")
    if len(rows) != expected_rows:
        raise ValueError(f"sent {expected_rows} row(s), received {len(rows)} prediction(s)")
    values: list[object] = []
    for row in rows:
        if type(row) is not dict or row.get(SPECIES_KEY) not in _SPECIES_SET:
            raise ValueError(f"a prediction lacks a known species: {str(row)[:80]}")
        probabilities = row.get(PROBABILITIES_KEY)
        if type(probabilities) is not dict or probabilities.keys() != _SPECIES_SET:
            raise ValueError(f"a prediction lacks per-species probabilities: {str(row)[:80]}")
        values.extend(probabilities.values())
    if not _all_probabilities(values):
        raise ValueError("a prediction's probabilities are not all numbers within [0, 1]")
    return rows


def decode_json(content: bytes) -> Any:
    """A response body, with each number that has a fraction or an exponent kept as its text.

    Decoding text is about twice as fast as making floats, and a CSV of results then
    carries the server's own digits; ``float()`` gives the number. decode_predictions
    checks that such text is a number.
    """
    return json.loads(content, parse_float=str)


def _all_probabilities(values: list[object]) -> bool:
    """Every value a number in [0, 1]: number text, int or float, never bool or other text.

    Checked in bulk with C-level map/min/max: a quarter of the cost of a check per value.
    Text that float() accepts holds no spreadsheet formula.
    """
    if not values:
        return True
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return False
    try:
        numbers = list(map(float, values))  # type: ignore[arg-type]
    except ValueError:
        return False
    return min(numbers) >= 0.0 and max(numbers) <= 1.0 and not any(map(math.isnan, numbers))


def error_message(body: bytes, content_type: str) -> str:
    """The server's own message from an error body, without MLflow's echo of the input."""
    text = body.decode("utf-8", errors="replace").strip()
    if "json" in content_type:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            for key in ("message", "error", "detail"):
                if isinstance(parsed.get(key), str):
                    text = parsed[key]
                    break
    # MLflow wraps schema errors as "Failed to predict data '<whole input>'. Error: <reason>".
    if text.startswith("Failed to ") and "Error: " in text:
        text = text.rsplit("Error: ", 1)[1]
    return text[:500] or "(empty response body)"
