"""Session fixtures: one trained registry and one served champion shared by the tests that need them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import settings

from tests import procs

# Tests never write into the repo: no example database under .hypothesis/.
settings.register_profile("iris", database=None)
settings.load_profile("iris")

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@dataclass(frozen=True)
class TrainedStore:
    root: Path
    tracking_uri: str
    first_run_output: str


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    """A fresh SQLite tracking store in which `mlflow run .` has promoted version 1."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlflow.db"
    result = procs.mlflow_run(uri, root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return TrainedStore(root, uri, result.stdout + result.stderr)


@dataclass(frozen=True)
class Served:
    base_url: str
    invocations: str
    proc: procs.Proc


@pytest.fixture(scope="session")
def served_champion(trained_store: TrainedStore, tmp_path_factory: pytest.TempPathFactory):
    """The champion served by the project's launcher (two workers) for the whole session."""
    logs = tmp_path_factory.mktemp("serve")
    proc, base = procs.serve(trained_store.tracking_uri, logs, "--workers", "2")
    try:
        yield Served(base, base + "/invocations", proc)
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def plain_mlflow_server(trained_store: TrainedStore, tmp_path_factory: pytest.TempPathFactory):
    """`mlflow models serve` on the champion as MLflow ships it (one worker): its base URL."""
    logs = tmp_path_factory.mktemp("plain-mlflow")
    port = procs.free_port()
    cmd = [str(procs.BIN / "mlflow"), "models", "serve", "-m", "models:/iris-classifier@champion",
           "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    proc = procs.Proc(cmd, procs.base_env(trained_store.tracking_uri), logs / "serve.log", cwd=logs)
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/ping", timeout=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def champion_model(trained_store: TrainedStore):
    """The champion loaded in-process through MLflow, as the scoring server loads it."""
    import mlflow.pyfunc

    os.environ["MLFLOW_TRACKING_URI"] = trained_store.tracking_uri
    try:
        return mlflow.pyfunc.load_model("models:/iris-classifier@champion")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]


SCORING_DIR = procs.REPO / "deploy" / "azureml" / "scoring"
AZURE_SAMPLE = (procs.REPO / "deploy" / "azureml" / "sample-request.json").read_text()


@pytest.fixture(scope="session")
def azure_server(trained_store, tmp_path_factory):
    """azmlinfsrv on a free port, the champion mounted as Azure mounts a registered model."""
    root = tmp_path_factory.mktemp("azureml-models")
    version_dir = root / "azureml-models" / "iris-classifier" / "1"
    env = procs.base_env(trained_store.tracking_uri)
    # Download in a subprocess so this process's MLflow config stays untouched.
    code = (
        "import mlflow.artifacts, sys; "
        "mlflow.artifacts.download_artifacts('models:/iris-classifier@champion', dst_path=sys.argv[1])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(version_dir / "model")], env=env, check=True, timeout=120
    )
    port = procs.free_port()
    cmd = [
        str(procs.BIN / "azmlinfsrv"),
        "--entry_script",
        str(SCORING_DIR / "score.py"),
        "--model_dir",
        str(version_dir),
        "--port",
        str(port),
    ]
    server_env = procs.base_env(AZUREML_MODEL_DIR=str(version_dir))
    server_env.pop("MLFLOW_TRACKING_URI", None)
    proc = procs.Proc(cmd, server_env, root / "azmlinfsrv.log", cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(base + "/", timeout=120)
        # The liveness route answers before init() finishes: wait for a real score.
        deadline = time.monotonic() + 120
        while (status := _score_status(base)) != 200:
            assert time.monotonic() < deadline, f"/score still {status}:\n{proc.output()[-3000:]}"
            time.sleep(0.5)
        yield base, proc
    finally:
        proc.stop()


def _score_status(base: str) -> int:
    response = httpx.post(
        base + "/score",
        content=AZURE_SAMPLE,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    return response.status_code


@pytest.fixture
def tracking_server(tmp_path):
    """A real `mlflow server` (SQLite, proxied artifacts under tmp_path) on a free port."""
    port = procs.free_port()
    cmd = [
        str(procs.BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path}/server.db",
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # Job execution spawns a runner and seven huey consumers: not needed for tracking + registry.
    env = procs.base_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    proc = procs.Proc(cmd, env, tmp_path / "server.log", cwd=tmp_path)
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/health", timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()
