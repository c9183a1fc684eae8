"""Podman and podman-compose for the container tests: build, bring up, look inside, clean up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.procs import REPO

COMPOSE = str(Path(sys.executable).parent / "podman-compose")


def engine_missing() -> str | None:
    """Why no container can run here, or None."""
    if shutil.which("podman") is None:
        return "no container engine: podman is not installed (.ci/run installs it as root)"
    info = subprocess.run(["podman", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return f"podman cannot run here: {info.stderr.strip()[:200]}"
    return None


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])}: {result.stderr[-2000:]}")
    return result


def build(tag: str, target: str, revision: str) -> None:
    """``docker build`` of one target (docker format: OCI images drop HEALTHCHECK)."""
    podman(
        "build", "--quiet", "--format", "docker", "--network", "host", "--target", target,
        "--build-arg", f"REVISION={revision}", "--tag", tag, str(REPO), timeout=1200,
    )  # fmt: skip


def image_size(tag: str) -> int:
    return int(podman("image", "inspect", tag, "--format", "{{.Size}}").stdout.strip())


def image_config(tag: str) -> dict:
    """The image's config (podman keeps the healthcheck beside it: put it back in)."""
    inspected = json.loads(podman("image", "inspect", tag).stdout)[0]
    return {**inspected["Config"], "Healthcheck": inspected.get("Healthcheck")}


@dataclass
class Stack:
    """One compose project of compose.yaml: its own name, env file and free ports."""

    env_file: Path
    ports: dict[str, int]
    password: str
    key: str  # the scoring server's
    name: str = field(default_factory=lambda: f"iris-test-{uuid.uuid4().hex[:8]}")

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [COMPOSE, "-p", self.name, "--env-file", str(self.env_file)]
        command += ["-f", str(REPO / "compose.yaml"), *args]
        env = {**os.environ, "PODMAN_COMPOSE_WARNING_LOGS": "false"}
        return subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=timeout, env=env
        )

    def up(self) -> None:
        result = self.compose("up", "-d")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    def container(self, service: str) -> str:
        return f"{self.name}_{service}_1"

    def logs(self, service: str) -> str:
        result = podman("logs", self.container(service), check=False)
        return result.stdout + result.stderr

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def wait_for_version(self, expected: str | None = None, timeout: float = 300) -> str:
        """The served model version once /health names one (``expected``, if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = httpx.get(self.url("serve", "/health"), timeout=3).json()
                version = health.get("model_version")
                if version and (expected is None or version == expected):
                    return str(version)
            except (httpx.HTTPError, ValueError):
                pass
            if self.exit_code("first-model") not in (None, 0):
                break  # no first model will come: say why now, not at the deadline
            time.sleep(2)
        tail = "\n".join(
            f"== {s}\n{self.logs(s)[-1500:]}" for s in ("tracking", "first-model", "serve")
        )
        raise AssertionError(f"no version {expected or ''} served (see first-model):\n{tail}")

    def exit_code(self, service: str) -> int | None:
        """The service's container's exit code once it has exited, else None."""
        state = podman(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
            self.container(service), check=False,
        ).stdout.split()  # fmt: skip
        return int(state[1]) if len(state) == 2 and state[0] == "exited" else None

    def volumes(self) -> list[str]:
        names = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
        return [n for n in names if n.startswith(self.name)]
