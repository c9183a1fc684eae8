"""The Makefile's own targets, run as a user runs them: without the venv on PATH."""

import os
import shutil
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


def test_the_readmes_mlflow_run_line_works_as_written(tmp_path):
    """README shows what `make train` runs; pasted in a checkout (here a copy), it trains."""
    readme = (procs.REPO / "README.md").read_text()
    line = next(
        ln
        for ln in readme.splitlines()
        if "mlflow run . --env-manager local" in ln and "PATH=" in ln
    )
    for name in ("MLproject", "conda.yaml", "train.py"):
        shutil.copy2(procs.REPO / name, tmp_path / name)
    shutil.copytree(procs.REPO / "iris_ml", tmp_path / "iris_ml")
    (tmp_path / ".venv").symlink_to(procs.REPO / ".venv")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")
    }
    env["PATH"] = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(procs.BIN))
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PROMOTED: 'champion' -> version 1" in result.stdout
    runs = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_runs(
        [
            MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
            .get_experiment_by_name("iris-classifier")
            .experiment_id
        ]
    )
    assert len(runs) == 1


def dry_run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("SCORING_URI", "PORT", "VERSION")}
    result = subprocess.run(
        ["make", "-n", "-C", str(procs.REPO), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_ui_scores_through_the_port_make_serve_uses():
    assert 'SCORING_URI="http://127.0.0.1:5002/invocations"' in dry_run("ui", "PORT=5002")
    assert "--port 5002" in dry_run("serve", "PORT=5002")


def test_make_serve_follows_the_champion_unless_pinned_or_told_not_to():
    assert "--follow" in dry_run("serve")
    pinned = dry_run("serve", "VERSION=3")
    assert "--version 3" in pinned and "--follow" not in pinned
    assert "--follow" not in dry_run("serve", "FOLLOW=0")
