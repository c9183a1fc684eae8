"""Every Azure ML YAML loads through azure-ai-ml's own loaders (offline); broken copies are refused."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from iris_ml_deploy.cli import main
from iris_ml_deploy.settings import SPEC_DIR
from iris_ml_deploy.specs import validate_specs
from tests.unit.test_project_files import lock_pins

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def spec_copy(tmp_path):
    target = tmp_path / "azureml"
    shutil.copytree(SPEC_DIR, target)
    return target


def edit(path, pattern, replacement):
    text = path.read_text()
    changed = re.sub(pattern, replacement, text, count=1, flags=re.M)
    assert changed != text, f"pattern {pattern!r} not found in {path.name}"
    path.write_text(changed)


def test_the_shipped_specs_are_valid(capsys):
    assert validate_specs() == []
    assert main(["validate"]) == 0
    assert "specs valid" in capsys.readouterr().out


def test_validate_says_one_line_and_no_library_chatter():
    # A fresh process: azure-ai-ml warns once per process, so in-process it may have already.
    result = subprocess.run([sys.executable, "-m", "deploy", "validate"], capture_output=True,
                            text=True, timeout=120, cwd=REPO)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "specs valid\n" and result.stderr == ""


def test_every_spec_declares_its_schema():
    for name in ("endpoint.yml", "deployment.yml", "train-job.yml"):
        assert yaml.safe_load((SPEC_DIR / name).read_text())["$schema"].startswith(
            "https://azuremlschemas.azureedge.net/latest/"
        )


@pytest.mark.parametrize(
    ("file", "pattern", "replacement", "message"),
    [
        ("endpoint.yml", r"^name: .*$", "name: 9-bad_name", "does not match"),
        (
            "endpoint.yml",
            r"^auth_mode: aad_token$",
            "auth_mode: aad_token\nunknown_field: 1",
            "endpoint.yml",
        ),
        (
            "endpoint.yml",
            r"^auth_mode: aad_token$",
            "auth_mode: aad_token\ntraffic:\n  blue: 60\n  green: 30",
            "sum to 100",
        ),
        (
            "deployment.yml",
            r"^instance_count: 1$",
            "instance_count: 1\nreplicas: 3",
            "deployment.yml",
        ),
        ("deployment.yml", r"^name: blue$", "name: purple", "must be one of"),
        (
            "deployment.yml",
            r"^endpoint_name: .*$",
            "endpoint_name: other-ep",
            "endpoint_name differs",
        ),
        (
            "deployment.yml",
            r"^  WORKER_COUNT: .*$",
            '  WORKER_COUNT: "2"',
            "WORKER_COUNT is '2'; Standard_DS3_v2 has 4 vCPUs",
        ),
        (
            "deployment.yml",
            r"^  max_concurrent_requests_per_instance: .*$",
            "  max_concurrent_requests_per_instance: 16",
            "max_concurrent_requests_per_instance is 16; match the 4 workers",
        ),
        (
            "deployment.yml",
            r"^instance_type: .*$",
            "instance_type: Standard_NC6",
            "add its vCPUs to INSTANCE_VCPUS",
        ),
        (
            "deployment.yml",
            r'^      enabled: "True"$',
            '      enabled: "maybe"',
            "deployment.yml",
        ),
        (
            "deployment.yml",
            r"^    model_outputs:$",
            "    predictions:",
            "enable model_outputs",
        ),
        (
            "monitor.yml",
            r"^          population_stability_index: 0.2$",
            "          population_stability_index: 0.5",
            "PSI threshold must be 0.2 (DriftThresholds)",
        ),
        ("monitor.yml", r"^        - petal_width$", "", "must watch exactly"),
        ("monitor.yml", r"^  frequency: day$", "  frequency: fortnight", "monitor.yml"),
        (
            "autoscale.yml",
            r"^  cpu_below_percent: 30$",
            "  cpu_below_percent: 80",
            "below scale_out's",
        ),
        ("autoscale.yml", r"^  maximum: 3$", "  maximum: 0", "minimum <= default <= maximum"),
        ("autoscale.yml", r"^  cooldown_minutes: 5$", "  cooldown_minutes: soon", "autoscale.yml"),
        (
            "train-job.yml",
            r"^resources:$",
            "bogus: true\nresources:",
            "train-job.yml",
        ),
    ],
)
def test_a_broken_copy_is_refused(spec_copy, file, pattern, replacement, message):
    edit(spec_copy / file, pattern, replacement)
    problems = validate_specs(spec_copy)
    assert problems, f"{file} with {replacement!r} was accepted"
    assert any(message in p for p in problems), problems


# Azure's batch runtime, which it documents as required in a batch deployment's environment
# and which no local code imports: the one unpinned pair (not in requirements.lock).
AZURE_BATCH_RUNTIME = {"azureml-core", "azureml-dataset-runtime[fuse]"}


@pytest.mark.parametrize("conda_file", ["conda.yaml", "batch-conda.yaml"])
def test_inference_environment_pins_the_locked_versions(conda_file):
    env = yaml.safe_load((SPEC_DIR / "environment" / conda_file).read_text())
    assert "python=3.11" in env["dependencies"]
    pins = lock_pins()
    pip_deps = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    for requirement in set(pip_deps) - AZURE_BATCH_RUNTIME:
        name, _, version = requirement.partition("==")
        assert pins[name.lower()] == version, requirement


def test_tracking_uri_command_reads_the_workspace(capsys):
    class Workspaces:
        def get(self, name):
            assert name == "ws"
            return type(
                "W",
                (),
                {
                    "mlflow_tracking_uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s"
                },
            )()

    client = type("C", (), {"workspaces": Workspaces()})()
    assert (
        main(
            [
                "--subscription-id",
                "s",
                "--resource-group",
                "rg",
                "--workspace",
                "ws",
                "tracking-uri",
            ],
            ml_client=client,
        )
        == 0
    )
    assert capsys.readouterr().out.strip().startswith("azureml://")
