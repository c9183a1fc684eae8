"""Session fixtures: one trained registry and one served champion shared by the tests that need them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
def champion_model(trained_store: TrainedStore):
    """The champion loaded in-process through MLflow, as the scoring server loads it."""
    import mlflow.pyfunc

    os.environ["MLFLOW_TRACKING_URI"] = trained_store.tracking_uri
    try:
        return mlflow.pyfunc.load_model("models:/iris-classifier@champion")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
