"""Floats as the server writes them: orjson's shortest round-trip text, one C call an array.

The one home of that text, so a probability reads the same from the server's JSON, the
payload log, score-client's CSV (which keeps the server's text) and ``iris-ml batch``'s
CSV: ``8.240087212515229e-7``, ``0.000015``, where Python's ``repr`` writes
``8.240087212515229e-07``, ``1.5e-05`` and Java's ``8.240087212515229E-7``.
"""

from __future__ import annotations

import numpy as np
import orjson


def number_texts(matrix: np.ndarray) -> np.ndarray:
    """Each finite float of a matrix as JSON text (bytes, an object array of its shape).

    One orjson call over the array: shortest round-trip text, so each parses back to the
    same float (``1e-07`` may read ``1e-7``, ``2.5e-05`` ``0.000025``). NaN and infinity
    have no JSON text (orjson writes ``null``); callers hold finite values, or map ``null``.
    """
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    if not matrix.size:
        return np.empty(matrix.shape, dtype=object)
    text = orjson.dumps(matrix.ravel(), option=orjson.OPT_SERIALIZE_NUMPY)
    return np.array(text[1:-1].split(b","), dtype=object).reshape(matrix.shape)
