"""score_client and the contract stay light: importing them loads nothing heavy."""

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("mlflow", "sklearn", "pandas", "numpy", "gradio", "azure", "skops")


def test_importing_score_client_and_contract_loads_no_heavy_module():
    code = (
        "import sys, score_client, score_client.cli, iris_ml.contract; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_base_distribution_depends_on_httpx_only():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["httpx"]
    assert "mlflow==3.15.0" in project["optional-dependencies"]["train"]
