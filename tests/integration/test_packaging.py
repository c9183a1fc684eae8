"""Installed names cannot collide; the checkout's `python -m ui` and `python -m deploy` still run."""

import importlib.metadata
import subprocess
import sys
import tomllib

import pytest

from tests import procs

pytestmark = pytest.mark.integration

INSTALLED = {"iris_ml", "iris_ml_deploy", "iris_ml_ui", "score_client"}


def test_the_distribution_installs_only_names_prefixed_by_the_project():
    top_level = importlib.metadata.distribution("iris-ml").read_text("top_level.txt")
    assert top_level is not None
    assert set(top_level.split()) == INSTALLED


def test_outside_the_checkout_ui_and_deploy_are_not_importable_and_the_installed_names_are(
    tmp_path,
):
    probe = (
        "import importlib.util as u; "
        "print([n for n in ('ui', 'deploy', 'iris_ml_ui', 'iris_ml_deploy') if u.find_spec(n)])"
    )
    found = subprocess.run(
        [sys.executable, "-B", "-c", probe], cwd=tmp_path, capture_output=True, text=True
    )
    assert found.stdout.strip() == "['iris_ml_ui', 'iris_ml_deploy']", found.stderr


@pytest.mark.parametrize(
    ("module", "usage"), [("ui", "usage: python -m ui"), ("deploy", "usage: python -m deploy")]
)
def test_the_checkout_folders_run_as_modules_from_its_root(module, usage):
    result = subprocess.run(
        [sys.executable, "-B", "-m", module, "--help"],
        cwd=procs.REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(usage)


def test_the_wheel_would_carry_every_azure_spec_and_the_scoring_script():
    """package-data's globs cover every file under deploy/azureml (a wheel has only those)."""
    pyproject = tomllib.loads((procs.REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["iris_ml_deploy"]
    deploy = procs.REPO / "deploy"
    covered = {path for pattern in patterns for path in deploy.glob(pattern)}
    files = {
        p for p in (deploy / "azureml").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    assert files and files <= covered, sorted(str(p) for p in files - covered)


def test_the_wheel_would_carry_every_package_of_the_checkout():
    """A package folder missing from [tool.setuptools] packages works editable and not in an image."""
    setuptools = tomllib.loads((procs.REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: procs.REPO / path for name, path in setuptools["package-dir"].items()}
    folders |= {name: procs.REPO / name for name in ("iris_ml", "score_client")}
    found = {
        ".".join((name, *init.parent.relative_to(root).parts))
        for name, root in folders.items()
        for init in root.rglob("__init__.py")
        if "__pycache__" not in init.parts and "azureml" not in init.parts
    }
    assert found - set(setuptools["packages"]) == set()
