"""The installed `iris-ml` command, run as a user runs it from the venv."""

import subprocess

import pytest

from iris_ml.cli.main import SUBCOMMANDS
from tests import procs

pytestmark = pytest.mark.integration  # runs the console script

IRIS_ML = str(procs.BIN / "iris-ml")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IRIS_ML, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_help_lists_every_subcommand_and_the_exit_statuses():
    result = run("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"  {name} " in result.stdout
    assert "exit statuses:" in result.stdout and "3  decided" in result.stdout


def test_a_mistyped_subcommand_is_a_usage_error_with_a_suggestion():
    result = run("champoin", "show")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "iris-ml: 'champoin' is not a command. Did you mean 'champion'? See iris-ml --help."
    )


def test_each_subcommand_shows_its_defaults():
    result = run("serve", "--help")
    assert result.returncode == 0
    assert "usage: iris-ml serve" in result.stdout
    assert "(default: 5001)" in result.stdout and "(default: champion)" in result.stdout


def test_champion_history_on_an_empty_registry_says_so(tmp_path):
    result = run("champion", "history", env=procs.base_env(f"sqlite:///{tmp_path}/mlflow.db"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No recorded moves of 'champion'."
