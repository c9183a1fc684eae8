"""The Azure scoring script under a real azmlinfsrv, as Azure ML runs it (no Docker here)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests import procs

SCORING_DIR = procs.REPO / "deploy" / "azureml" / "scoring"
AZURE_SAMPLE = (procs.REPO / "deploy" / "azureml" / "sample-request.json").read_text()


@contextlib.contextmanager
def azure_scoring_server(
    trained_store: Any, root: Path, **env: str
) -> Iterator[tuple[str, procs.Proc]]:
    """azmlinfsrv on a free port, the champion mounted as Azure mounts a registered model."""
    version_dir = root / "azureml-models" / "iris-classifier" / "1"
    # Download in a subprocess so this process's MLflow config stays untouched.
    code = (
        "import mlflow.artifacts, sys; "
        "mlflow.artifacts.download_artifacts('models:/iris-classifier@champion', dst_path=sys.argv[1])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(version_dir / "model")],
        env=procs.base_env(trained_store.tracking_uri),
        check=True,
        timeout=120,
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
    server_env = procs.base_env(AZUREML_MODEL_DIR=str(version_dir), **env)
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
