"""The plain request, answered by the serving layer itself: MLflow's answer, at C speed.

MLflow's handler decodes a JSON body twice, builds a DataFrame, casts and checks it
against the schema, and writes the answer with ``json.dump``, which streams and so
never takes CPython's C encoder. On the bench machine one 10,000-row request of the
contract's answer spends ~250 ms writing it, against ~12 ms in ``scored.py``.

A request is plain when its answer depends on none of that: ``application/json`` (at
most ``charset=utf-8``, read as MLflow reads it) holding only ``dataframe_split`` with
the four feature columns (any order) and ``data``, or only ``dataframe_records`` whose
records hold exactly those four keys; every cell a JSON number (no boolean, no string,
no null) inside the contract's range; 1 to MAX_ROWS_PER_REQUEST rows. For such a table
MLflow's schema step only turns integers into floats, which ``astype`` does the same way.

Anything else (another format or key, ``params``, an index, a string that MLflow would
cast, a value out of range, NaN, ...) returns None here and goes to MLflow's handler,
which answers or refuses it exactly as before. tests/integration/test_fast_path.py
sends every payload of the serving tests and the hostile corpus to both and compares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from iris_ml.contract import FEATURE_NAMES, MAX_ROWS_PER_REQUEST, media_type

_JSON = "application/json"


def is_plain_json(content_type: bytes) -> bool:
    """``application/json`` that MLflow's handler accepts: no parameter but ``charset=utf-8``."""
    mime, parameters = media_type(content_type.decode("latin-1"))
    # MLflow compares the type as sent: "Application/JSON" is a 415 there.
    return mime == _JSON and all(
        name == "charset" and value.lower() == "utf-8" for name, value in parameters.items()
    )


def plain_matrix(body: bytes) -> np.ndarray | None:
    """The features of a plain request (rows x FEATURE_NAMES, float64), or None."""
    if b"true" in body or b"false" in body:
        return None  # MLflow reads a boolean as 1.0 or 0.0; the layer refuses it instead
    try:
        # orjson refuses what json.loads would turn into a float MLflow then refuses
        # (NaN, Infinity) and integers past 64 bits: both go to MLflow's handler.
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or len(payload) != 1:
        return None
    ((key, table),) = payload.items()
    if key == "dataframe_split":
        return _checked(*_split_rows(table))
    if key == "dataframe_records":
        return _checked(_record_rows(table), None)
    return None


def _split_rows(table: Any) -> tuple[Any, list[int] | None]:
    if not isinstance(table, dict) or set(table) != {"columns", "data"}:
        return None, None
    columns = table["columns"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return None, None
    if sorted(columns) != sorted(FEATURE_NAMES):
        return None, None
    order = None if tuple(columns) == FEATURE_NAMES else [columns.index(n) for n in FEATURE_NAMES]
    return table["data"], order


def _record_rows(table: Any) -> list[list[Any]] | None:
    if not isinstance(table, list):
        return None
    width = len(FEATURE_NAMES)
    try:
        if any(not isinstance(r, dict) or len(r) != width for r in table):
            return None
        return [[r[name] for name in FEATURE_NAMES] for r in table]
    except KeyError:
        return None


def _checked(rows: Any, order: list[int] | None) -> np.ndarray | None:
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_ROWS_PER_REQUEST:
        return None
    try:
        matrix = np.array(rows)  # no dtype: a string, a null or a ragged row shows in it
    except (ValueError, TypeError, OverflowError):
        return None
    if matrix.dtype.kind not in "if" or matrix.shape != (len(rows), len(FEATURE_NAMES)):
        return None
    matrix = matrix.astype(np.float64, copy=False)
    if order is not None:
        matrix = matrix[:, order]
    # In range or not is the served version's own check (IrisClassifier.accepts), asked next.
    return np.ascontiguousarray(matrix)
