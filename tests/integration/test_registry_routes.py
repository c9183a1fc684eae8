"""Both registry routes, run for real against a local store.

The Azure route (save, log as run artifacts, register runs:/<id>/model) is the
one Azure ML's tracking server supports; here it runs against SQLite to prove
the code path trains, registers, promotes and serves the same model.
"""

import pytest

from iris_ml.registry import versions as registry

pytestmark = pytest.mark.integration


def test_publish_route_is_chosen_from_the_tracking_uri():
    assert (
        registry.publish_route("azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/x")
        == "run-artifacts"
    )
    assert registry.publish_route("sqlite:///mlflow.db") == "logged-model"
    assert registry.publish_route("http://127.0.0.1:5000") == "logged-model"


def test_the_route_override_is_checked(monkeypatch):
    monkeypatch.setenv(registry.PUBLISH_ROUTE_ENV, "run-artifacts")
    assert registry.publish_route("sqlite:///mlflow.db") == "run-artifacts"
    monkeypatch.setenv(registry.PUBLISH_ROUTE_ENV, "s3")
    with pytest.raises(ValueError, match="expected one of"):
        registry.publish_route("sqlite:///mlflow.db")


def test_run_artifacts_route_registers_a_servable_model(tmp_path, monkeypatch):
    import mlflow
    import pandas as pd

    from iris_ml.training.pipeline import train
    from iris_ml.training.settings import TrainSettings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv(registry.PUBLISH_ROUTE_ENV, "run-artifacts")  # the documented override
    mlflow.set_tracking_uri(None)
    try:
        result = train(TrainSettings())
        assert result.decision.promote and result.version == "1"
        client = mlflow.tracking.MlflowClient()
        version = client.get_model_version("iris-classifier", "1")
        assert (
            version.source.endswith(f"{result.run_id}/artifacts/model")
            or version.source == f"runs:/{result.run_id}/model"
        )
        artifacts = {a.path for a in client.list_artifacts(result.run_id, "model")}
        assert "model/MLmodel" in artifacts
        model = mlflow.pyfunc.load_model("models:/iris-classifier@champion")
        frame = pd.DataFrame(
            [[6.3, 3.3, 6.0, 2.5]],
            columns=["sepal_length", "sepal_width", "petal_length", "petal_width"],
        )
        assert model.predict(frame)[0]["species"] == "virginica"
    finally:
        mlflow.set_tracking_uri(None)


def test_alias_tag_fallback_when_the_registry_refuses_aliases(tmp_path, monkeypatch):
    """promote() and resolve_alias() agree when aliases are unavailable (Azure ML may lack them)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", source=str(tmp_path))

    def refuse(*args, **kwargs):
        raise MlflowException("aliases are not supported", error_code=INVALID_PARAMETER_VALUE)

    monkeypatch.setattr(client, "set_registered_model_alias", refuse)
    monkeypatch.setattr(client, "get_model_version_by_alias", refuse)
    assert registry.promote(client, "m", "champion", "1") == "tag"
    assert str(registry.resolve_alias(client, "m", "champion").version) == "1"
    assert registry.promote(client, "m", "champion", "2") == "tag"
    assert str(registry.resolve_alias(client, "m", "champion").version) == "2"
    assert "alias.champion" not in client.get_model_version("m", "1").tags
