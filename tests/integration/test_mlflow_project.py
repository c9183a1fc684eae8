"""`mlflow run .` for real: registration, the gate, and what the run records."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from mlflow.tracking import MlflowClient

from iris_ml.contract import FEATURE_NAMES
from tests import procs

pytestmark = pytest.mark.integration


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_first_run_registers_version_1_and_makes_it_champion(trained_store):
    client = client_for(trained_store.tracking_uri)
    champion = client.get_model_version_by_alias("iris-classifier", "champion")
    assert str(champion.version) == "1"
    assert champion.tags["gate"] == "passed"
    assert float(champion.tags["accuracy"]) >= 0.9
    assert "accuracy=" in champion.description
    assert "PROMOTED: 'champion' -> version 1" in trained_store.first_run_output


def test_the_runs_log_is_free_of_noise(trained_store):
    # No warnings (SHAP's skip with species labels) and no per-download progress bars.
    output = trained_store.first_run_output
    assert "Run (ID" in output and "succeeded" in output
    assert "WARNING" not in output and "Warning:" not in output
    assert "Downloading artifacts" not in output


def test_the_run_records_params_metrics_plots_dataset_and_commit(trained_store):
    client = client_for(trained_store.tracking_uri)
    version = client.get_model_version("iris-classifier", "1")
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert {"C", "max_iter", "test_size", "seed", "min_accuracy", "tolerance"} <= set(
        run.data.params
    )
    assert {"accuracy_score", "f1_score", "log_loss", "roc_auc", "gate_accuracy"} <= set(
        run.data.metrics
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "roc_curve_plot.png"} <= artifacts
    assert run.data.tags["dataset_digest"]
    assert run.inputs.dataset_inputs[0].dataset.digest == run.data.tags["dataset_digest"]
    commit = run.data.tags.get("mlflow.source.git.commit") or run.data.tags.get("git_commit")
    assert commit and len(commit) == 40


def test_the_registered_model_carries_signature_example_and_no_pickle(
    trained_store, tmp_path, monkeypatch
):
    import mlflow.artifacts
    import yaml

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.tracking_uri)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri="models:/iris-classifier/1", dst_path=str(tmp_path)
    )
    with open(os.path.join(local, "MLmodel")) as f:
        mlmodel = yaml.safe_load(f)
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [c["name"] for c in inputs] == list(FEATURE_NAMES)
    assert {c["type"] for c in inputs} == {"double"}
    assert "species" in mlmodel["signature"]["outputs"]
    assert os.path.exists(os.path.join(local, mlmodel["saved_input_example_info"]["artifact_path"]))
    files = [os.path.join(d, f) for d, _, fs in os.walk(local) for f in fs]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    assert [f for f in files if f.endswith(".skops")]
    assert os.path.exists(os.path.join(local, "code", "iris_ml", "contract.py"))
    assert not os.path.exists(os.path.join(local, "code", "iris_ml", "training.py"))


def test_a_bad_candidate_is_registered_but_not_promoted(trained_store):
    result = procs.mlflow_run(trained_store.tracking_uri, trained_store.root, "C=0.0001")
    output = result.stdout + result.stderr
    # train.py exits 3 on a gate rejection; `mlflow run` reports any failure as 1.
    assert result.returncode == 1, output[-2000:]
    assert "NOT PROMOTED: accuracy" in output and "'champion' stays on version 1" in output
    client = client_for(trained_store.tracking_uri)
    assert str(client.get_model_version_by_alias("iris-classifier", "champion").version) == "1"
    rejected = max(
        client.search_model_versions("name='iris-classifier'"), key=lambda v: int(v.version)
    )
    assert rejected.tags["gate"] == "rejected"
    assert "below the floor" in rejected.tags["gate_reason"]
    # Both scored on the same rows, both shown: the line and the tag say what the gate compared.
    run = client.get_run(rejected.run_id)
    candidate, champion = run.data.metrics["gate_accuracy"], run.data.metrics["champion_accuracy"]
    compared = (
        f"candidate vs champion version 1 on the same {rejected.tags['gate_rows']} held-out rows: "
        f"accuracy {candidate:.4f} vs {champion:.4f}"
    )
    assert rejected.tags["gate_rows"] == "45"  # 30% of Iris's 150
    assert rejected.tags["gate_comparison"].startswith(compared)
    assert compared in output


def test_a_run_with_the_same_settings_promotes_again(tmp_path):
    """Run twice on one store: the second run reuses the store and moves the alias (like make demo)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    for expected in ("1", "2"):
        result = procs.mlflow_run(uri, tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"PROMOTED: 'champion' -> version {expected}" in result.stdout
    run = client_for(uri).get_run(client_for(uri).get_model_version("iris-classifier", "2").run_id)
    assert run.data.metrics["champion_accuracy"] == run.data.metrics["gate_accuracy"]


@pytest.mark.slow
def test_env_manager_uv_builds_the_environment_from_conda_yaml(tmp_path):
    """conda.yaml is complete: a uv venv built from it alone trains and registers.

    UV_CONSTRAINT holds every transitive package to the lock, so the env is the
    tested set. MLFLOW_ENV_ROOT in tmp_path makes MLflow build the env now instead
    of reusing one an earlier run left in ~/.mlflow/envs. UV_OFFLINE proves uv takes
    it all from the cache that `make setup` fills (its `uv-cache` step), so the test
    needs no network.
    """
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env_root = tmp_path / "envs"
    result = procs.mlflow_run(
        uri,
        tmp_path,
        env_manager="uv",
        extra_env={
            "UV_OFFLINE": "1",
            "UV_CONSTRAINT": str(procs.REPO / "requirements.lock"),
            "MLFLOW_ENV_ROOT": str(env_root),
        },
    )
    output = result.stdout[-3000:] + result.stderr[-3000:]
    if "network was disabled" in output:
        output += "\n\nuv's cache lacks what conda.yaml needs: `make uv-cache` fills it."
    assert result.returncode == 0, output
    assert "PROMOTED: 'champion' -> version 1" in result.stdout
    (env_dir,) = env_root.glob("mlflow-*")
    assert installed_versions(env_dir / "bin" / "python") <= locked_versions()


def installed_versions(python) -> set[tuple[str, str]]:
    freeze = subprocess.run(
        [str(procs.BIN / "uv"), "pip", "freeze", "--python", str(python)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {_pin(line) for line in freeze.stdout.splitlines() if "==" in line}


def locked_versions() -> set[tuple[str, str]]:
    lines = (procs.REPO / "requirements.lock").read_text().splitlines()
    return {_pin(line.split(";")[0]) for line in lines if "==" in line and not line.startswith("#")}


def _pin(line: str) -> tuple[str, str]:
    name, _, version = line.strip().partition("==")
    return name.lower().replace("_", "-"), version.strip()
