"""The same train -> register -> serve flow against a shared `mlflow server` on loopback."""

import httpx
import pytest

from iris_ml.contract import FEATURE_NAMES
from tests import procs

pytestmark = pytest.mark.integration


def test_train_register_and_serve_through_a_tracking_server(tracking_server, tmp_path):
    workdir = tmp_path / "client"
    workdir.mkdir()
    result = procs.mlflow_run(tracking_server, workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PROMOTED: 'champion' -> version 1" in result.stdout
    # Artifacts went through the server's proxy, not to the client's disk.
    assert not (workdir / "mlruns").exists()
    assert any((tmp_path / "artifacts").rglob("*.skops"))

    server, base = procs.serve(tracking_server, workdir, "--workers", "1")
    try:
        body = {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [[6.3, 3.3, 6.0, 2.5]]}}
        response = httpx.post(base + "/invocations", json=body, timeout=30)
        assert response.status_code == 200
        assert response.json()["predictions"][0] == {
            **response.json()["predictions"][0],
            "species": "virginica",
            "model_version": "1",
        }
    finally:
        server.stop()
