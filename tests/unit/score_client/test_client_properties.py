"""Property tests: arbitrary rows never crash the client and never reach the wire when invalid."""

import json
import math

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iris_ml.contract import FEATURE_NAMES, FEATURES
from score_client import InvalidInputError, ScoringClient
from score_client._backends import AZUREML, MLFLOW

values = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20), st.text(max_size=4), st.lists(st.floats(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)  # fmt: skip
rows = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from([*FEATURE_NAMES, "x"]), values, max_size=5),
        st.integers(),
        st.text(max_size=3),
    ),
    max_size=6,
)
MAXIMA = {f.name: f.maximum for f in FEATURES}


def recording_client(sent):
    def handler(request):
        body = json.loads(request.content)
        sent.append(body)
        n = len(body["dataframe_split"]["data"])
        row = {
            "species": "setosa",
            "probabilities": {"setosa": 1.0, "versicolor": 0.0, "virginica": 0.0},
        }
        return httpx.Response(200, json={"predictions": [row] * n})

    return ScoringClient(
        "http://127.0.0.1:1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        max_retries=0,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows)
def test_predict_either_refuses_or_sends_only_valid_rows(batch):
    sent = []
    client = recording_client(sent)
    try:
        predictions = client.predict(batch)
    except InvalidInputError as exc:
        assert sent == [] and exc.errors
        return
    assert len(predictions) == len(batch) and len(sent) == 1
    table = sent[0]["dataframe_split"]
    assert table["columns"] == list(FEATURE_NAMES)
    for row in table["data"]:
        for name, value in zip(FEATURE_NAMES, row, strict=True):
            assert isinstance(value, float) and math.isfinite(value) and 0 < value <= MAXIMA[name]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(*[st.floats(0.01, f.maximum) for f in FEATURES]), min_size=1, max_size=20)
)
def test_encoded_payloads_round_trip_for_both_dialects(batch):
    rows = [list(r) for r in batch]
    for backend, key in ((MLFLOW, "dataframe_split"), (AZUREML, "input_data")):
        decoded = json.loads(backend.encode(rows))[key]
        assert decoded["data"] == [list(r) for r in batch]
