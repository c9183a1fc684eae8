"""Session fixtures: one trained registry and one served champion shared by the tests that need them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from tests import procs
from tests.azml import azure_scoring_server
from tests.ui_support import CHROMIUM_ARGS, chromium_path

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


@pytest.fixture(scope="session")
def azure_server(trained_store, tmp_path_factory):
    with azure_scoring_server(trained_store, tmp_path_factory.mktemp("azureml-models")) as server:
        yield server


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


@pytest.fixture
def browser():
    """Chromium through Playwright (the browser tests, the UI's and /docs')."""
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
