"""The drift loop end to end: serve with a payload log, send traffic, run the real monitor CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.traffic import make_rows
from iris_ml.contract import FEATURE_NAMES
from tests import procs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def logging_server(trained_store, tmp_path_factory):
    logs = tmp_path_factory.mktemp("monitored")
    payloads = logs / "payloads"
    proc, base = procs.serve(
        trained_store.tracking_uri, logs, "--workers", "1", "--log-payloads", str(payloads)
    )
    try:
        yield base, payloads
    finally:
        proc.stop()


def send(base: str, shift: str, count: int, payloads: Path) -> None:
    rows = make_rows(count, shift, seed=7).tolist()
    with httpx.Client(timeout=30) as client:
        for start in range(0, count, 25):
            body = {
                "dataframe_split": {
                    "columns": list(FEATURE_NAMES),
                    "data": rows[start : start + 25],
                }
            }
            assert client.post(base + "/invocations", json=body).status_code == 200
    deadline = time.monotonic() + 20
    while sum(len(f.read_text().splitlines()) for f in payloads.glob("*.jsonl")) < count:
        assert time.monotonic() < deadline, "the payload log did not receive every row"
        time.sleep(0.2)


def monitor(tracking_uri: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # cwd: a new experiment on a SQLite store keeps its artifacts in ./mlruns of the caller.
    return subprocess.run(
        [sys.executable, "-m", "iris_ml", "monitor", *args],
        env=procs.base_env(tracking_uri),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def drift_tag(tracking_uri: str) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    version = client.get_model_version_by_alias("iris-classifier", "champion")
    return json.loads(version.tags["drift_status"])


def test_normal_traffic_passes_and_shifted_traffic_is_caught_on_the_right_features(
    trained_store, logging_server, tmp_path
):
    from mlflow.tracking import MlflowClient

    base, payloads = logging_server
    uri = trained_store.tracking_uri
    send(base, "normal", 600, payloads)
    calm = monitor(uri, tmp_path, "--payloads", str(payloads))
    assert calm.returncode == 0, calm.stdout + calm.stderr
    assert "no drift" in calm.stdout and "DRIFT" not in calm.stdout
    assert not calm.stderr.strip(), calm.stderr  # not even MLflow's "Creating a new experiment"
    tag = drift_tag(uri)
    assert tag["status"] == "no_drift" and tag["rows"] == 600

    client = MlflowClient(uri)
    run = client.get_run(tag["run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "monitoring"
    assert run.data.params["window_rows"] == "600"
    assert {f"psi_{n}" for n in FEATURE_NAMES} <= set(run.data.metrics)
    plots = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert plots == {f"drift_{n}.png" for n in FEATURE_NAMES}

    # A new window: yesterday's rows moved out, shifted petals sent.
    for old in payloads.glob("*.jsonl"):
        shutil.move(old, tmp_path / old.name)
    send(base, "petal", 600, payloads)
    shifted = monitor(uri, tmp_path, "--payloads", str(payloads))
    assert shifted.returncode == 3, shifted.stdout + shifted.stderr
    drifted = [line.split()[0] for line in shifted.stdout.splitlines() if "DRIFT" in line]
    assert drifted[:2] == ["petal_length", "petal_width"] and "sepal_length" not in drifted
    assert drift_tag(uri)["status"] == "drift"


def test_payloads_of_another_store_are_refused_by_the_monitor_and_the_server(
    trained_store, logging_server, tmp_path
):
    _, payloads = logging_server
    source = json.loads((payloads / "source.json").read_text())
    assert source == {"tracking_uri": trained_store.tracking_uri, "model_name": "iris-classifier"}
    # A team store's monitor (another store, its own version 1) reading this local folder.
    other = f"sqlite:///{tmp_path}/team.db"
    refused = monitor(other, tmp_path, "--payloads", str(payloads))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip() == (
        f"error: the payloads in {payloads} were scored for iris-classifier in "
        f"{trained_store.tracking_uri}, not iris-classifier in {other}: use that store "
        "(MLFLOW_TRACKING_URI), or a folder of this store's own (make serve "
        "PAYLOADS=payloads-team, and the same PAYLOADS for make monitor)"
    )
    # A server of that other store does not start writing into this folder either.
    server = subprocess.run(
        [sys.executable, "-m", "iris_ml", "serve", "--port", str(procs.free_port()),
         "--log-payloads", str(payloads)],
        env=procs.base_env(other), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert server.returncode == 2 and "were scored for iris-classifier in" in server.stderr


def test_a_window_too_small_warns_and_exits_0(trained_store, tmp_path):
    empty = tmp_path / "payloads"
    empty.mkdir()
    result = monitor(trained_store.tracking_uri, tmp_path, "--payloads", str(empty))
    assert result.returncode == 0, result.stderr
    assert "too few to judge" in result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--payloads", "/no/such/folder"], "no payload log folder"),
        (["--payloads", ".", "--hours", "0"], "--hours and --max-rows must be positive"),
        ([], "required"),
    ],
)
def test_bad_usage_exits_2_with_one_sentence(trained_store, tmp_path, args, says):
    result = monitor(trained_store.tracking_uri, tmp_path, *args)
    assert result.returncode == 2 and says in result.stderr
    assert "Traceback" not in result.stderr


def test_other_failures_exit_1_with_one_sentence(trained_store, tmp_path):
    result = monitor(
        trained_store.tracking_uri, tmp_path, "--payloads", str(tmp_path), "--version", "999"
    )
    assert result.returncode == 1 and result.stderr.startswith("error: monitoring failed")
    assert "Traceback" not in result.stderr


def retrain(tracking_uri: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iris_ml", "retrain-if-drift", *args],
        env=procs.base_env(tracking_uri), cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_drift_is_not_retrained_on_the_champions_own_data(
    trained_store, logging_server, tmp_path, monkeypatch
):
    from mlflow.tracking import MlflowClient

    from iris_ml.cli.retrain import same_data_as_champion
    from iris_ml.training.data import load_dataset

    base, payloads = logging_server
    uri = trained_store.tracking_uri
    send(base, "petal", 600, payloads)
    versions_before = len(MlflowClient(uri).search_model_versions("name='iris-classifier'"))
    bundled_csv = tmp_path / "same.csv"
    load_dataset().to_csv(bundled_csv, index=False)  # the same flowers, as a file
    for params in ([], ["-P", f"data={bundled_csv}"]):
        refused = retrain(uri, tmp_path, "--payloads", str(payloads), *params)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert (
            "Drift found, but not retraining: iris-classifier@champion (version " in refused.stderr
        )
        assert "was trained on this very data" in refused.stderr
        assert "-P data=path/to/flowers.csv" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert len(MlflowClient(uri).search_model_versions("name='iris-classifier'")) == versions_before
    # New flowers are trained on (checked in-process: no version is registered here).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    new = load_dataset()
    new.loc[0, "petal_length"] = 1.5
    new.to_csv(tmp_path / "new.csv", index=False)
    assert same_data_as_champion([f"data={tmp_path / 'new.csv'}"]) is None


def test_a_champion_from_before_the_digest_tags_is_known_by_the_dataset_its_run_logged(
    tmp_path, monkeypatch
):
    """Older versions carry no digest tag; their run's training input holds MLflow's digest."""
    import mlflow
    from mlflow.data import from_pandas
    from mlflow.tracking import MlflowClient

    from iris_ml.cli.retrain import same_data_as_champion
    from iris_ml.training.data import TARGET, load_dataset

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)  # the store's artifact root is ./mlruns: not in the checkout
    client = MlflowClient()
    with mlflow.start_run() as run:  # as training logged it before the tags existed
        mlflow.log_input(from_pandas(load_dataset(), name="iris", targets=TARGET), "training")
        mlflow.log_text("a model", "model/MLmodel")
    client.create_registered_model("iris-classifier")
    version = client.create_model_version(
        "iris-classifier", f"runs:/{run.info.run_id}/model", run.info.run_id
    )
    client.set_registered_model_alias("iris-classifier", "champion", version.version)
    refused = same_data_as_champion([])
    assert refused is not None and "was trained on this very data" in refused
    new = load_dataset()
    new.loc[0, "petal_length"] = 1.5
    new.to_csv(tmp_path / "new.csv", index=False)
    assert same_data_as_champion([f"data={tmp_path / 'new.csv'}"]) is None
