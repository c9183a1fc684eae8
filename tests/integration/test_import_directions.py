"""The import contracts of pyproject.toml hold, and a planted wrong import breaks them.

``make lint`` runs ``lint-imports``; these tests run it on a copy of the packages, once as it
is and once with one import that goes the wrong way, so a contract that cannot fail shows.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # runs the lint-imports CLI (make lint runs it too)

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path: grimp reads iris_ml from there, not from the checkout.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "iris_ml", tmp_path / "iris_ml")
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}\n")


def test_the_packages_keep_every_contract(tree):
    result = lint(tree)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("serving/layer.py", "import iris_ml.training.pipeline", "Serving never imports training"),
        ("registry/versions.py", "import iris_ml.serving.launcher", "Stages:"),
        ("contract.py", "import numpy", "The contract imports nothing heavy"),
        ("tracking/store.py", "import iris_ml.cli.demo", "Stages:"),
    ],
)
def test_a_planted_wrong_import_breaks_its_contract(tree, module, wrong_import, contract):
    plant(tree / "iris_ml" / module, wrong_import)
    result = lint(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout[-3000:]
