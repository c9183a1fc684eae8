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
