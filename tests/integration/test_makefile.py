"""The Makefile's own targets, run as a user runs them: without the venv on PATH."""

import os
import subprocess

import pytest
from mlflow.tracking import MlflowClient

from tests import procs

pytestmark = pytest.mark.integration


def test_make_train_works_without_an_activated_venv(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    # Pre-create the experiment so its artifacts land in tmp, not in the repo's ./mlruns.
    MlflowClient(tracking_uri=uri).create_experiment(
        "iris-make", artifact_location=str(tmp_path / "artifacts")
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI")}
    env["PATH"] = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(procs.BIN))
    )
    env.update(
        MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="iris-make", PYTHONDONTWRITEBYTECODE="1"
    )
    before = sorted(os.listdir(procs.REPO))
    result = subprocess.run(
        ["make", "-C", str(procs.REPO), "train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PROMOTED: 'champion' -> version 1" in result.stdout
    assert sorted(os.listdir(procs.REPO)) == before  # nothing written into the repo
