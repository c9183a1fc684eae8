"""Start real processes for tests, find free ports, and always stop what was started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from iris_ml.processes import NotReady, free_port, http_ok, start_group, stop_groups, wait_until

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def base_env(tracking_uri: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "MLFLOW_EXPERIMENT_NAME": "iris-tests",
    }
    env.pop("SCORING_KEY", None)
    env.pop("SERVING_KEY", None)
    env.pop("SCORING_URI", None)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.update(extra)
    return env


class Proc:
    """A child in its own process group, its output in a log file."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
        self.cmd = cmd
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115
        self.popen = start_group(cmd, env=env, cwd=cwd, output=self._out)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_http(self, url: str, timeout: float = 120.0) -> None:
        try:
            wait_until(lambda: http_ok(url), [self.popen], timeout, f"{self.cmd[:4]} at {url}")
        except NotReady as exc:
            raise RuntimeError(f"{exc}:\n{self.output()[-3000:]}") from None

    def wait_output(self, text: str, count: int, timeout: float = 120.0) -> None:
        """Until ``text`` has appeared ``count`` times in the child's output."""
        try:
            wait_until(
                lambda: self.output().count(text) >= count,
                [self.popen],
                timeout,
                f"{text!r} x{count}",
            )
        except NotReady as exc:
            raise RuntimeError(f"{exc}:\n{self.output()[-3000:]}") from None

    def wait_exit(self, timeout: float) -> int:
        """The child's exit status; past ``timeout`` a failure that carries its output's tail."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            tail = self.output()[-4000:]
            raise AssertionError(
                f"{self.cmd[:4]} still running after {timeout} s:\n{tail}"
            ) from None

    def stop(self, grace: float = 15.0) -> None:
        stop_groups([self.popen], grace)
        self._out.close()


def mlflow_run(
    tracking_uri: str,
    cwd: Path,
    *params: str,
    env_manager: str = "local",
    timeout: float = 600,
    extra_env: dict[str, str] | None = None,
):
    """`mlflow run <repo>` as a user would; returns the CompletedProcess."""
    cmd = [str(BIN / "mlflow"), "run", str(REPO), "--env-manager", env_manager]
    for p in params:
        cmd += ["-P", p]
    return subprocess.run(
        cmd,
        env=base_env(tracking_uri, **(extra_env or {})),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def serve(
    tracking_uri: str,
    log_dir: Path,
    *extra: str,
    model_version: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Proc, str]:
    """The project's serve launcher on a free port; returns the process and its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "iris_ml", "serve", "--port", str(port), *extra]
    proc = Proc(
        cmd, base_env(tracking_uri, **(env or {})), log_dir / f"serve-{port}.log", cwd=log_dir
    )
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(base + "/ping", timeout=180)
        # /ping answers once one worker is up; tests that count per worker need them all.
        workers = int(extra[extra.index("--workers") + 1]) if "--workers" in extra else 1
        proc.wait_output("Application startup complete.", workers, timeout=180)
    except BaseException:
        proc.stop()
        raise
    return proc, base


def heavy_libraries(pid: int) -> set[str]:
    """Which of pandas, scikit-learn and SciPy a process has loaded (their compiled modules)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in ("pandas", "sklearn", "scipy") if f"/site-packages/{name}/" in maps}


def statuses_on_one_connection(base_url: str, body: bytes, idle_s: float) -> list[int | str]:
    """POST twice on one kept-alive socket with `idle_s` of silence between; each answer's status.

    A closed connection shows as "closed" instead of a status: what a pooled client meets
    when it reuses a connection the server has already dropped.
    """
    host, port = base_url.removeprefix("http://").split(":")
    request = (
        f"POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    statuses: list[int | str] = []
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        reader = sock.makefile("rb")
        for attempt in range(2):
            if attempt:
                time.sleep(idle_s)
            try:
                sock.sendall(request)
                status_line = reader.readline()
            except OSError:
                status_line = b""
            if not status_line:
                statuses.append("closed")
                break
            statuses.append(int(status_line.split()[1]))
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            reader.read(length)
    return statuses
