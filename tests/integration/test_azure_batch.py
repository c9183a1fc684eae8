"""The Azure ML batch deployment's script, init() and run(mini_batch), on files, and its specs.

Azure ML calls the script as its batch runtime does: AZUREML_MODEL_DIR on the registered
model's folder, AZUREML_BI_OUTPUT_PATH on the job's output folder, run() with a list of
files (MicrosoftDocs, "Customize outputs in batch deployments"). The specs load with
azure-ai-ml's own loaders, offline.
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests import procs

pytestmark = pytest.mark.integration
SCORING_DIR = procs.REPO / "deploy" / "azureml" / "scoring"
HEADER = ["id", "Sepal Length", "sepal_width", "petal_length", "petal_width", "note"]
ROWS = [
    ["00123", "5.1", "3.5", "1.4", "0.2", "=SUM(A1)"],
    ["00124", "6.3", "3.3", "6.0", "2.5", "a, b"],
    ["00125", "-1", "3.3", "6.0", "2.5", ""],
    ["00126", "7.0", "3.2", "4.7", "1.4", "two\nlines", "extra"],
]


@pytest.fixture
def batch_script(trained_store, tmp_path, monkeypatch):
    model_dir = tmp_path / "azureml-models" / "iris-classifier" / "1" / "model"
    code = "import mlflow.artifacts, sys; mlflow.artifacts.download_artifacts('models:/iris-classifier@champion', dst_path=sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(model_dir)], check=True, timeout=120,
                   env=procs.base_env(trained_store.tracking_uri))  # fmt: skip
    assert (model_dir / "code" / "iris_ml" / "batch" / "scoring.py").is_file()  # it travels
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv(
        "AZUREML_MODEL_DIR", str(tmp_path / "azureml-models" / "iris-classifier" / "1")
    )
    monkeypatch.setenv("AZUREML_BI_OUTPUT_PATH", str(out))
    monkeypatch.syspath_prepend(str(SCORING_DIR))  # Azure runs the script from its code folder
    spec = importlib.util.spec_from_file_location(
        "iris_batch_score", SCORING_DIR / "batch_score.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    return module, out


def test_a_mini_batch_of_files_comes_back_as_one_parquet_file_each_every_cell_kept(
    batch_script, tmp_path
):
    module, out = batch_script
    files = []
    for name in ("a.csv", "b.csv"):
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8-sig") as stream:
            csv.writer(stream).writerows([HEADER, *ROWS])
        files.append(str(path))
    assert module.run(files) == files
    for name in ("a", "b"):
        table = pq.read_table(out / f"{name}.parquet").to_pylist()
        assert [[r[h] for h in HEADER] for r in table] == [(row + [""] * 6)[:6] for row in ROWS]
        assert [r["input_row"] for r in table] == [1, 2, 3, 4]
        assert [r["species"] for r in table] == ["setosa", "virginica", None, None]
        assert [r["model_version"] for r in table] == ["1", "1", None, None]
        assert table[2]["problem"] == "sepal_length: must be greater than 0 cm, got -1"
        assert table[3]["problem"].startswith("more fields than the header's 6")
    assert sorted(p.name for p in out.iterdir()) == ["a.parquet", "b.parquet"]  # no staging left


def test_a_file_it_cannot_read_fails_its_mini_batch_by_name(batch_script, tmp_path):
    module, out = batch_script
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length;sepal_width;petal_length;petal_width\n1;2;3;4\n")
    with pytest.raises(ValueError, match=r"bad\.csv: the header is one column"):
        module.run([str(bad)])
    assert list(out.iterdir()) == []


def test_the_batch_specs_load_with_azure_ai_ml_offline():
    from azure.ai.ml import load_batch_endpoint, load_job
    from azure.ai.ml.entities._load_functions import load_model_batch_deployment

    spec_dir = procs.REPO / "deploy" / "azureml"
    endpoint = load_batch_endpoint(spec_dir / "batch-endpoint.yml")
    assert endpoint.auth_mode == "aad_token"
    deployment = load_model_batch_deployment(spec_dir / "batch-deployment.yml")
    assert deployment.code_configuration.scoring_script == "batch_score.py"
    assert deployment.settings.output_action == "summary_only"
    assert deployment.settings.error_threshold == 0
    job = load_job(spec_dir / "batch-spark-job.yml")
    assert job.type == "spark" and job.entry.entry == "iris_ml/cli/batch.py"
