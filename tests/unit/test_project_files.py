"""The project's own files agree with each other: MLproject, conda.yaml, the lock, train.py."""

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import yaml

from iris_ml.training.settings import TrainSettings

REPO = Path(__file__).resolve().parents[2]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)(\s*;\s*(.*))?", line)
        if not m:
            continue
        marker = m.group(4) or ""
        # The project runs on 3.11 here; keep the pin that applies to it.
        if "python_full_version >= '3.12'" in marker:
            continue
        pins[m.group(1).lower()] = m.group(2)
    return pins


def test_conda_yaml_pins_python_and_the_locked_versions():
    env = yaml.safe_load((REPO / "conda.yaml").read_text())
    deps = env["dependencies"]
    pythons = [d for d in deps if isinstance(d, str) and d.startswith("python=")]
    assert pythons == ["python=3.11"]
    pip_deps = next(d["pip"] for d in deps if isinstance(d, dict))
    pins = lock_pins()
    assert pip_deps, "conda.yaml lists no pip packages"
    for requirement in pip_deps:
        name, _, version = requirement.partition("==")
        assert version, f"{requirement} is not pinned"
        assert pins[name.lower()] == version, (
            f"{name}: conda.yaml {version}, lock {pins[name.lower()]}"
        )


def test_conda_yaml_covers_what_training_imports():
    env = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip_deps = {
        d.split("==")[0] for d in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    }
    assert {"mlflow", "scikit-learn", "skops", "pandas", "numpy"} <= pip_deps


def test_mlflow_and_azureml_mlflow_pair_is_locked_together():
    pins = lock_pins()
    assert pins["mlflow"] == "3.15.0"
    assert pins["azureml-mlflow"] == "1.62.0.post6"


def test_mlproject_parameters_match_train_settings_and_flags():
    project = yaml.safe_load((REPO / "MLproject").read_text())
    main = project["entry_points"]["main"]
    params = main["parameters"]
    assert set(params) == {f.name for f in fields(TrainSettings)}
    for f in fields(TrainSettings):
        assert (
            str(params[f.name]["default"]) == str(f.default)
            or float(params[f.name]["default"]) == f.default
        )
        assert "{" + f.name + "}" in main["command"]
    assert project["conda_env"] == "conda.yaml"


def train_parser():
    """train.py's argument parser (train.py is a script at the root, not in a package)."""
    sys.path.insert(0, str(REPO))
    try:
        import train
    finally:
        sys.path.remove(str(REPO))
    return train.build_parser()


def train_py_flags() -> dict[str, str]:
    """TrainSettings field -> train.py's option for it."""
    return {a.dest: a.option_strings[0] for a in train_parser()._actions if a.option_strings}


def test_azure_training_job_passes_every_training_parameter_with_its_default():
    job = yaml.safe_load((REPO / "deploy" / "azureml" / "train-job.yml").read_text())
    flags = train_py_flags()
    assert set(job["inputs"]) == {f.name for f in fields(TrainSettings)}
    for f in fields(TrainSettings):
        assert job["inputs"][f.name] == f.default, f.name
        assert f"{flags[f.name]} ${{{{inputs.{f.name}}}}}" in job["command"], f.name


def test_train_py_has_a_flag_for_every_training_parameter_with_its_default():
    flags = train_py_flags()
    assert {f.name for f in fields(TrainSettings)} <= set(flags)
    defaults = vars(train_parser().parse_args([]))
    assert {f.name: defaults[f.name] for f in fields(TrainSettings)} == {
        f.name: f.default for f in fields(TrainSettings)
    }


def test_train_py_help_documents_the_exit_status():
    out = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Exit status" in out.stdout and "--min-accuracy" in out.stdout


def test_train_py_refuses_bad_parameters_with_exit_2():
    out = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--test-size", "0.95"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "test_size must be within" in out.stderr


def test_ci_entry_point_parses_and_ends_in_the_readme_test_command():
    # A stray edit once left .ci/run unparseable: CI failed in 0 s without running a test.
    script = REPO / ".ci" / "run"
    parsed = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    commands = [
        line.strip()
        for line in script.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert "make test" in (REPO / "README.md").read_text()


def test_every_test_module_outside_the_unit_tier_folders_is_marked_integration():
    """`make test-unit` collects only its folders: a test left elsewhere unmarked would run nowhere fast."""
    recipe = re.search(r"^test-unit:.*\n\t(.+)$", (REPO / "Makefile").read_text(), re.M)
    assert recipe is not None
    folders = [w for w in recipe.group(1).split() if w.startswith("tests/")]
    assert folders == ["tests/unit", "tests/ui"]
    outside = [
        p
        for p in (REPO / "tests").rglob("test_*.py")
        if not any(p.is_relative_to(REPO / f) for f in folders)
    ]
    assert outside  # the integration tier exists
    for path in outside:
        text = path.read_text()
        assert re.search(r"^pytestmark = .*pytest\.mark\.integration", text, re.M), path.name
