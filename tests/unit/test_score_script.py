"""The Azure scoring script's request path, called as a function with stand-in models."""

import importlib.util
import json

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode

from tests import procs

SCRIPT = procs.REPO / "deploy" / "azureml" / "scoring" / "score.py"


@pytest.fixture(scope="module")
def score_module():
    spec = importlib.util.spec_from_file_location("iris_score_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Raising:
    def __init__(self, exc):
        self.exc = exc

    def predict(self, frame):
        raise self.exc


BODY = json.dumps({"input_data": {"columns": ["a"], "index": [0], "data": [[1.0]]}}).encode()


@pytest.mark.parametrize(
    ("error_code", "status"),
    [("INVALID_PARAMETER_VALUE", 400), ("INTERNAL_ERROR", 500), ("TEMPORARILY_UNAVAILABLE", 500)],
)
def test_the_models_own_faults_are_5xx_and_bad_input_is_4xx(score_module, error_code, status):
    exc = MlflowException(
        "secret /site-packages/path detail", error_code=ErrorCode.Value(error_code)
    )
    answered, body = score_module.score(Raising(exc), None, BODY, "application/json")
    assert answered == status
    if status >= 500:  # nothing of the server's internals reaches the caller
        assert body["message"] == "the model failed; see the deployment logs"
        assert "site-packages" not in json.dumps(body)


def test_an_unexpected_exception_is_a_500_without_internals(score_module):
    answered, body = score_module.score(
        Raising(RuntimeError("/opt/x.py")), None, BODY, "application/json"
    )
    assert answered == 500 and "/opt" not in json.dumps(body)


class Answering:
    """A model that answers setosa for every row, as the served pyfunc does."""

    def predict(self, frame):
        return [
            {
                "species": "setosa",
                "probabilities": {"setosa": 0.9, "versicolor": 0.06, "virginica": 0.04},
            }
        ] * len(frame)


FLOWERS = json.dumps(
    {
        "input_data": {
            "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width", "note"],
            "data": [[5.1, 3.5, 1.4, 0.2, "a"], [4.9, 3.0, 1.4, 0.2, "b"]],
        }
    }
).encode()


def test_error_bodies_carry_the_request_id(score_module):
    answered, body = score_module.score(
        Raising(RuntimeError("boom")), None, BODY, "application/json", "order-00123"
    )
    assert answered == 500 and body["request_id"] == "order-00123"
    answered, body = score_module.score(Answering(), None, b"{", "application/json", "r2")
    assert answered == 400 and body["request_id"] == "r2"


def test_collected_rows_are_the_payload_logs_columns_as_scored(score_module):
    from iris_ml.contract import PAYLOAD_COLUMNS

    seen = []
    answered, body = score_module.score(
        Answering(), None, FLOWERS, "application/json", "order-00123",
        lambda rid, frame, predictions: seen.append(
            score_module.collected_frames(rid, "7", frame, predictions, 1_700_000_000.0)
        ),
    )  # fmt: skip
    assert answered == 200 and len(body["predictions"]) == 2
    inputs, outputs = seen[0]
    assert list(inputs.columns) + list(outputs.columns[3:]) == list(PAYLOAD_COLUMNS)
    assert inputs["sepal_length"].tolist() == [5.1, 4.9]  # the values sent, not rounded
    assert set(inputs["request_id"]) == {"order-00123"} and set(outputs["model_version"]) == {"7"}
    assert outputs["probability_setosa"].tolist() == [0.9, 0.9]
    assert inputs["time"][0] == "2023-11-14T22:13:20.000+00:00"


class BrokenCollector:
    def __init__(self, *, name, on_error=None):
        self.on_error = on_error

    def collect(self, data, correlation_context=None):
        raise OSError("the collector's sidecar is gone")


def test_a_broken_collector_changes_no_answer_and_is_logged_once(score_module, monkeypatch, caplog):
    import sys
    import types

    fake = types.ModuleType("azureml.ai.monitoring")
    fake.Collector = BrokenCollector
    monkeypatch.setitem(sys.modules, "azureml.ai.monitoring", fake)
    collect = score_module.DataCollection("7").start()
    without = score_module.score(Answering(), None, FLOWERS, "application/json", "r")
    for _ in range(3):
        assert (
            score_module.score(Answering(), None, FLOWERS, "application/json", "r", collect)
            == without
        )
    assert without[0] == 200
    assert sum("data collection failed" in r.getMessage() for r in caplog.records) == 1


def test_a_collector_that_cannot_be_imported_turns_collection_off_once(
    score_module, monkeypatch, caplog
):
    import sys

    monkeypatch.setitem(sys.modules, "azureml.ai.monitoring", None)  # import fails
    collect = score_module.DataCollection("7").start()
    answered, body = score_module.score(
        Answering(), None, FLOWERS, "application/json", "r", collect
    )
    assert answered == 200 and len(body["predictions"]) == 2
    assert sum("data collection is off" in r.getMessage() for r in caplog.records) == 1
