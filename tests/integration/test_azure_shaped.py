"""Training and deploy against an MLflow server shaped like an Azure ML workspace's endpoint.

tests/azure_shaped.py refuses, with Azure's empty 404, every route Microsoft's support
matrices leave out (aliases, logged models, dataset inputs); the real tools must still
train, register, promote (by tag) and find the champion.
"""

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests import procs
from tests.azure_shaped import azure_shaped

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# `python -m deploy deploy --dry-run` by the package's installed name (tests run anywhere).
DRY_RUN = [sys.executable, "-m", "iris_ml_deploy", "deploy", "--dry-run", "--tracking-uri"]


def deploy_dry_run(tracking_uri: str) -> str:
    result = subprocess.run(
        [*DRY_RUN, tracking_uri],
        env=procs.base_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("aliases", [False, True], ids=["azure-shaped", "aliases-allowed"])
def test_training_twice_and_deploy_against_an_azure_shaped_server(
    tracking_server, tmp_path, aliases
):
    workdir = tmp_path / "client"
    workdir.mkdir()
    with azure_shaped(tracking_server, allow_aliases=aliases) as azure:
        first = procs.mlflow_run(azure.url, workdir)
        out = first.stdout + first.stderr
        assert first.returncode == 0, out[-4000:] + "\n".join(azure.log)
        how = "" if aliases else " (as a tag: this registry has no aliases)"
        assert f"PROMOTED: 'champion' -> version 1{how}" in first.stdout
        # Each thing done differently is said once, plainly; no traceback.
        for note in ("NOTE: the dataset", "NOTE: the model is logged", "NOTE: evaluated with"):
            assert first.stdout.count(note) == 1, first.stdout
        assert "Traceback" not in out

        second = procs.mlflow_run(azure.url, workdir, "C=0.0001")  # a worse candidate
        assert second.returncode == 1, (second.stdout + second.stderr)[-4000:]
        assert "NOT PROMOTED" in second.stdout and "'champion' stays on version 1" in second.stdout
        third = procs.mlflow_run(azure.url, workdir)
        assert third.returncode == 0 and f"PROMOTED: 'champion' -> version 3{how}" in third.stdout
        assert "version 3" in deploy_dry_run(azure.url)  # deploy finds what training promoted

        client = MlflowClient(tracking_uri=azure.url, registry_uri=azure.url)
        run = client.get_run(client.get_model_version("iris-classifier", "3").run_id)
        assert {"C", "train_rows", "test_rows"} <= set(run.data.params)
        assert {"accuracy_score", "f1_score", "log_loss", "roc_auc", "gate_accuracy"} <= set(
            run.data.metrics
        )
        assert run.data.metrics["champion_accuracy"] > 0  # it was compared with version 1
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"confusion_matrix.png", "roc_curve_plot.png", "model"} <= artifacts
        tagged = {
            str(v.version)
            for v in client.search_model_versions("name='iris-classifier'")
            if v.tags.get("alias.champion") == "true"
        }
        assert tagged == (set() if aliases else {"3"})  # the tag moved; one champion

    print("\n" + "\n".join(azure.log))  # the proxy's log: every refused route, with its reason
    refused = set(azure.refused)
    assert "POST /api/2.0/mlflow/runs/log-inputs" in refused
    assert "POST /api/2.0/mlflow/logged-models/search" in refused
    assert ("GET /api/2.0/mlflow/registered-models/alias" in refused) is not aliases
    if aliases:
        champion = MlflowClient(tracking_uri=tracking_server).get_model_version_by_alias(
            "iris-classifier", "champion"
        )
        assert str(champion.version) == "3"


def test_a_registry_that_fails_is_an_error_not_no_champion(tracking_server):
    """Only 'no such alias' or 'aliases unsupported' fall back; a broken server is reported."""
    with azure_shaped(tracking_server) as azure:
        pass  # the proxy is gone: its port now refuses connections
    result = subprocess.run(
        [*DRY_RUN, azure.url],
        env=procs.base_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "cannot read the registry" in result.stderr
    assert "Traceback" not in result.stderr and "no version of" not in result.stderr
