"""The plain path's pure parts: which requests are plain, the matrix they hold, the answer text.

The differential test against MLflow's handler on real servers is
tests/integration/test_fast_path.py; here each rule is pinned on its own.
"""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iris_ml.contract import FEATURE_NAMES, FEATURES, SPECIES
from iris_ml.linear_scorer import out_of_bounds
from iris_ml.model import predictions_from_probabilities
from iris_ml.number_text import number_texts
from iris_ml.serving.encoding import Scored
from iris_ml.serving.fast_path import is_plain_json, plain_matrix
from iris_ml.serving.layer import ServingLayer
from iris_ml.serving.metrics import ServingMetrics
from iris_ml.serving.observed_model import current_request

NAMES = list(FEATURE_NAMES)
SETOSA = [5.1, 3.5, 1.4, 0.2]


def split(rows, columns=NAMES, **extra) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows, **extra}}).encode()


@pytest.mark.parametrize(
    ("content_type", "plain"),
    [
        (b"application/json", True),
        (b"application/json; charset=utf-8", True),
        (b"application/json;charset=UTF-8", True),
        (b"Application/JSON", False),  # MLflow's handler compares the type as sent: a 415
        (b"application/json; charset=latin-1", False),
        (b"application/json; format=split", False),
        (b"application/json;", False),  # an empty parameter: MLflow names it unrecognised
        (b"text/csv", False),
        (b"", False),
    ],
)
def test_plain_json_is_what_mlflows_handler_reads_as_json(content_type, plain):
    assert is_plain_json(content_type) is plain


def test_a_split_table_in_any_column_order_gives_the_matrix_in_contract_order():
    shuffled = [NAMES[2], NAMES[0], NAMES[3], NAMES[1]]
    row = [SETOSA[2], SETOSA[0], SETOSA[3], SETOSA[1]]
    assert plain_matrix(split([row], shuffled)).tolist() == [SETOSA]
    assert plain_matrix(split([SETOSA, [5, 3, 1, 1]])).tolist() == [SETOSA, [5.0, 3.0, 1.0, 1.0]]


def test_records_give_the_same_matrix():
    records = [dict(zip(NAMES, SETOSA, strict=True))]
    assert plain_matrix(json.dumps({"dataframe_records": records}).encode()).tolist() == [SETOSA]


@pytest.mark.parametrize(
    "body",
    [
        split([[5.1, True, 1.4, 0.2]]),  # MLflow would read 1.0: the layer refuses it
        split([[5.1, "3.5", 1.4, 0.2]]),
        split([[5.1, None, 1.4, 0.2]]),
        split([[5.1, 3.5, 1.4]]),
        split([SETOSA, [5.1, 3.5, 1.4]]),
        split([]),
        split([SETOSA], index=[0]),
        split([SETOSA], [*NAMES[:3], "petal_widht"]),
        split([[*SETOSA, 1.0]], [*NAMES, "colour"]),
        b'{"dataframe_split": {"columns": ["sepal_length"], "data": [[NaN]]}}',
        json.dumps(
            {"dataframe_records": [{**dict(zip(NAMES, SETOSA, strict=True)), "x": 1}]}
        ).encode(),
        json.dumps({"dataframe_records": [dict(zip(NAMES[:3], SETOSA, strict=False))]}).encode(),
        json.dumps({"instances": [dict(zip(NAMES, SETOSA, strict=True))]}).encode(),
        json.dumps(
            {"dataframe_split": {"columns": NAMES, "data": [SETOSA]}, "params": {}}
        ).encode(),
        b"[1, 2]",
        b"{not json",
    ],
)
def test_anything_else_is_left_to_mlflows_handler(body):
    assert plain_matrix(body) is None


@pytest.mark.parametrize(
    "row",
    [
        [5.1, 0.0, 1.4, 0.2],
        [5.1, -1.0, 1.4, 0.2],
        [FEATURES[0].maximum * 2, 3.5, 1.4, 0.2],
        [2**63 + 1, 3.5, 1.4, 0.2],
        [2**70, 3.5, 1.4, 0.2],
    ],
)
def test_a_value_out_of_range_is_read_and_left_to_the_models_own_bounds(row):
    # One range check: the served version's (IrisClassifier.accepts asks out_of_bounds).
    matrix = plain_matrix(split([row]))
    assert matrix is not None and out_of_bounds(matrix).any()
    assert not out_of_bounds(plain_matrix(split([SETOSA]))).any()


def test_the_answer_is_the_models_answer_rows_as_json():
    probabilities = np.array([[1.0, 0.0, 0.0], [1e-300, 0.25, 0.75], [0.2, 0.5, 0.3]])
    expected = predictions_from_probabilities(probabilities, SPECIES, 'v"7%s')
    text = Scored.of(probabilities).predictions_json('v"7%s')
    assert json.loads(text) == {"predictions": expected}
    no_version = predictions_from_probabilities(probabilities, SPECIES, None)
    assert json.loads(Scored.of(probabilities).predictions_json(None)) == {
        "predictions": no_version
    }


def test_answers_read_back_from_the_contracts_rows_are_the_same_batch():
    probabilities = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    back = Scored.from_answers(predictions_from_probabilities(probabilities, SPECIES))
    assert back.species == ["virginica", "setosa"]
    assert back.probabilities.tolist() == probabilities.tolist()


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=60))
def test_each_number_text_parses_back_to_the_same_float(values):
    matrix = np.array(values).reshape(len(values), 1)
    texts = number_texts(matrix)
    assert [json.loads(t) for t in texts.ravel()] == values
    assert all(
        math.copysign(1, json.loads(t)) == math.copysign(1, v)
        for t, v in zip(texts.ravel(), values, strict=True)
    )


class PlainModel:
    """A served model that scores plain requests: a constant answer, counted."""

    scores_plain = True

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.matrices: list[np.ndarray] = []

    def score_plain(self, matrix):
        if self.fail:
            raise RuntimeError("a bug")
        self.matrices.append(matrix)
        current_request.get().rows = len(matrix)
        return Scored.of(np.tile([0.7, 0.2, 0.1], (len(matrix), 1))).predictions_json("3")


def serve(layer, body, content_type="application/json"):
    async def go():
        transport = httpx.ASGITransport(app=layer)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(
                "/invocations", content=body, headers={"Content-Type": content_type}
            )

    return asyncio.run(go())


def handler(seen: list):
    async def app(scope, receive, send):
        seen.append((await receive()).get("body"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"predictions": "from mlflow"}'})

    return app


@pytest.fixture
def metrics(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return ServingMetrics()


def test_the_layer_answers_a_plain_request_without_mlflows_handler(metrics):
    seen: list = []
    model = PlainModel()
    layer = ServingLayer(handler(seen), lambda: "3", metrics, model_of=lambda: model)
    response = serve(layer, split([SETOSA] * 3))
    assert response.status_code == 200 and seen == []
    assert (
        response.headers["content-type"] == "application/json" and response.headers["x-request-id"]
    )
    assert [p["species"] for p in response.json()["predictions"]] == ["setosa"] * 3
    assert model.matrices[0].tolist() == [SETOSA] * 3
    big = serve(layer, split([SETOSA] * 3000))  # past the inline size: scored in a thread
    assert big.status_code == 200 and len(big.json()["predictions"]) == 3000 and seen == []


def test_everything_else_and_a_failing_plain_path_go_to_mlflows_handler(metrics):
    seen: list = []
    layer = ServingLayer(handler(seen), lambda: "3", metrics, model_of=lambda: PlainModel())
    assert serve(layer, split([[5.1, "3.5", 1.4, 0.2]])).json() == {"predictions": "from mlflow"}
    failing = ServingLayer(handler(seen), lambda: "3", metrics, model_of=lambda: PlainModel(True))
    assert serve(failing, split([SETOSA])).json() == {"predictions": "from mlflow"}
    off = ServingLayer(handler(seen), lambda: "3", metrics)  # --mlflow-handler-only
    assert serve(off, split([SETOSA])).json() == {"predictions": "from mlflow"}
    assert len(seen) == 3


class Classifier:
    """A registered version's classifier with narrower bounds than the server's contract."""

    model_version = "2"

    def accepts(self, matrix):
        return bool((matrix[:, 2] <= 5.0).all())  # petal length at most 5 cm

    def probabilities(self, matrix):
        return np.tile([0.7, 0.2, 0.1], (len(matrix), 1))


class Loaded:
    def unwrap_python_model(self):
        return Classifier()


def test_the_models_own_bounds_decide_and_a_value_it_refuses_goes_to_mlflows_handler():
    from iris_ml.serving.observed_model import ObservedModel

    observed = ObservedModel(Loaded(), "2")
    assert observed.scores_plain
    assert (
        json.loads(observed.score_plain(np.array([SETOSA])))["predictions"][0]["species"]
        == "setosa"
    )
    assert observed.score_plain(np.array([[5.1, 3.5, 6.0, 2.0]])) is None  # petal 6.0 > 5.0
