"""No secret in the repository, and the scanner is not blind (it finds a planted fake key)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # runs the detect-secrets CLI (make lint runs it too)

REPO = Path(__file__).resolve().parents[2]
SCAN = [str(Path(sys.executable).parent / "detect-secrets"), "scan"]


def scan(cwd: Path, *args: str) -> dict:
    out = subprocess.run(
        [*SCAN, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(out.stdout)["results"]


def test_the_repository_has_no_secret():
    # detect-secrets scans the files git tracks; .venv, mlruns and mlflow.db are not among them.
    findings = scan(REPO)
    assert findings == {}, json.dumps(findings, indent=1)[:2000]


def test_the_scanner_finds_a_planted_fake_key(tmp_path):
    fake = "AKIA" + "Z7QX4JLM2PW9TRB6"  # an AWS-shaped access key id, built so this file holds none
    (tmp_path / "settings.py").write_text(f'aws_access_key_id = "{fake}"\n')
    findings = scan(tmp_path, "--all-files", str(tmp_path))
    assert findings, "detect-secrets missed an AWS key"
    assert any(f["type"] == "AWS Access Key" for fs in findings.values() for f in fs)
