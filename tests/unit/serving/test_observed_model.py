"""What ObservedModel records of a batch MLflow's handler scored, whatever shape it parsed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iris_ml.contract import FEATURE_NAMES, PROBABILITIES_KEY, SPECIES, SPECIES_KEY
from iris_ml.serving.observed_model import ObservedModel, RequestContext, current_request

SETOSA = [5.1, 3.5, 1.4, 0.2]


class Recorded:
    """A payload log that keeps what it is handed (PayloadLog's submit and sampled)."""

    def __init__(self):
        self.batches = []

    def sampled(self):
        return True

    def submit(self, batch):
        self.batches.append(batch)


class Answering:
    """A loaded pyfunc answering one contract row per row it was given (pandas broadcasts)."""

    def predict(self, data, params=None):
        rows = len(pd.DataFrame(data, index=[0]) if _all_scalars(data) else pd.DataFrame(data))
        answer = {SPECIES_KEY: "setosa", PROBABILITIES_KEY: dict.fromkeys(SPECIES, 1 / 3)}
        return [answer] * rows


def _all_scalars(data):
    return isinstance(data, dict) and all(np.ndim(v) == 0 for v in data.values())


@pytest.mark.parametrize(
    ("parsed", "expected"),
    [
        # dataframe_split / dataframe_records: a DataFrame, columns in any order
        (pd.DataFrame([SETOSA], columns=list(FEATURE_NAMES)), [SETOSA]),
        (pd.DataFrame([SETOSA[::-1]], columns=list(FEATURE_NAMES)[::-1]), [SETOSA]),
        # inputs / instances: a dict of arrays, or of scalars (one row), as MLflow parses them
        (
            {n: np.array([v, v]) for n, v in zip(FEATURE_NAMES, SETOSA, strict=True)},
            [SETOSA, SETOSA],
        ),
        ({n: np.float64(v) for n, v in zip(FEATURE_NAMES, SETOSA, strict=True)}, [SETOSA]),
    ],
)
def test_every_batch_mlflow_parsed_reaches_the_payload_log_as_scored(parsed, expected):
    payloads = Recorded()
    observed = ObservedModel(Answering(), "3", payloads=payloads)
    token = current_request.set(RequestContext("r1"))
    try:
        observed.predict(parsed)
    finally:
        current_request.reset(token)
    (batch,) = payloads.batches
    assert batch.request_id == "r1" and batch.model_version == "3"
    np.testing.assert_array_equal(batch.matrix, np.array(expected))
