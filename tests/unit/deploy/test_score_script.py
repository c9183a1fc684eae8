"""The Azure scoring script's request path, called as a function with stand-in models."""

import importlib.util
import json

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode

from iris_ml.contract import MAX_BODY_BYTES
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


SPLIT = {"columns": ["sepal_length"], "data": [[5.1]]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"input_data": SPLIT}, {"dataframe_split": SPLIT}),  # Azure's own format
        (
            {"input_data": {**SPLIT, "index": [7]}},  # the index Azure's samples carry is dropped
            {"dataframe_split": SPLIT},
        ),
        ({"input_data": [{"a": 1}]}, {"dataframe_records": [{"a": 1}]}),
        ({"dataframe_split": SPLIT}, {"dataframe_split": SPLIT}),  # MLflow's formats pass through
        ({"inputs": [[1, 2, 3, 4]]}, {"inputs": [[1, 2, 3, 4]]}),
    ],
)
def test_azure_and_mlflow_bodies_become_one_mlflow_payload(score_module, body, expected):
    assert score_module.to_mlflow_payload(json.dumps(body).encode(), "application/json") == expected


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"{}", "text/csv", 415, "send Content-Type: application/json, not 'text/csv'"),
        (b"{}", "application/json; charset=latin-1", 415, "not charset 'latin-1'"),
        (b"\xff{}", "application/json", 400, "not UTF-8"),
        (b"{nope", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "expected a JSON object"),
        (b'{"inputs": [], "input_data": []}', None, 400, "exactly one of"),
        (b'{"input_data": 5}', None, 400, "input_data must be"),
    ],
)
def test_bodies_the_script_refuses_say_why_with_the_right_status(
    score_module, body, content_type, status, says
):
    with pytest.raises(score_module.RequestError) as refused:
        score_module.to_mlflow_payload(body, content_type)
    assert refused.value.status == status and says in str(refused.value)


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed(score_module):
    too_big = b" " * (MAX_BODY_BYTES + 1)
    with pytest.raises(score_module.RequestError) as refused:
        score_module.to_mlflow_payload(too_big, "application/json")
    assert refused.value.status == 413


def test_an_encoded_body_is_a_415_and_deep_nesting_a_400(score_module):
    good = json.dumps({"inputs": [[1]]}).encode()
    with pytest.raises(score_module.RequestError) as refused:
        score_module.to_mlflow_payload(good, "application/json", "gzip")
    assert refused.value.status == 415 and "gzip" in str(refused.value)
    assert score_module.to_mlflow_payload(good, "application/json", "identity")
    with pytest.raises(score_module.RequestError) as refused:
        score_module.to_mlflow_payload(b"[" * 100_000, "application/json")
    assert refused.value.status == 400 and "nests deeper" in str(refused.value)


def test_charset_utf8_in_any_spelling_is_accepted(score_module):
    body = json.dumps({"inputs": [[1]]}).encode()
    for content_type in ("application/json; charset=UTF-8", 'Application/JSON; charset="utf8"'):
        assert score_module.to_mlflow_payload(body, content_type) == {"inputs": [[1]]}


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/var/azureml-app/azureml-models/iris-classifier/12", "12"),
        ("/var/azureml-app/azureml-models/iris-classifier/12/model", "12"),
        ("/var/azureml-app/azureml-models/iris-classifier/latest", None),
        ("/tmp/model", None),
    ],
)
def test_the_version_is_read_from_azures_mount_path_only(score_module, path, version):
    from pathlib import Path

    assert score_module.version_from_path(Path(path)) == version


def test_the_model_folder_is_found_at_the_root_or_one_level_down(score_module, tmp_path):
    nested = tmp_path / "iris-classifier"
    nested.mkdir()
    (nested / "MLmodel").write_text("flavors: {}\n")
    assert score_module.find_model_dir(tmp_path) == nested
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert score_module.find_model_dir(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="no MLmodel"):
        score_module.find_model_dir(nested / "empty-but-missing")


def test_mlflows_schema_message_keeps_the_reason_not_the_echoed_input(score_module):
    echoed = "Failed to enforce schema of data '   sepal_length\n0  -1.0' with schema '...'. Error: sepal_length must be > 0"
    assert score_module.clean_message(echoed) == "sepal_length must be > 0"
    assert score_module.clean_message("  plain reason ") == "plain reason"
    assert len(score_module.clean_message("x" * 5000)) == 1000


def test_the_callers_request_id_is_kept_first_then_azures_client_id(score_module):
    assert score_module.request_id_of({"x-request-id": "00123"}) == "00123"
    assert score_module.request_id_of({"x-ms-client-request-id": "abc"}) == "abc"
    made_up = score_module.request_id_of({})  # outside azmlinfsrv: a fresh id
    assert len(made_up) == 32 and made_up != score_module.request_id_of({})
