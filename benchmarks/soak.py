"""Soak and fault figures (`make soak`): mixed valid/invalid load, then a worker killed under load.

Loopback only, bounded in time. Prints requests sent, failures by kind, recovery
time and memory so they can be quoted; the tests call the same functions with
shorter durations and assert the behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from iris_ml.contract import FEATURE_NAMES, TEXTBOOK_FLOWERS
from iris_ml.processes import NotReady, free_port, start_group, stop_groups, wait_until

REPO = Path(__file__).resolve().parent.parent
COLUMNS = list(FEATURE_NAMES)  # the contract owns the names
JSON_HEADERS = {"Content-Type": "application/json"}
# Valid requests: textbook flowers whose species is known.
VALID = [(list(values), species) for values, species in TEXTBOOK_FLOWERS]
# Invalid requests the model must refuse with a 4xx.
INVALID = [
    json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[5.1, 3.5, 1.4, -0.2]]}}),
    json.dumps(
        {
            "dataframe_records": [
                {"sepal_length": None, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ]
        }
    ),
    '{"dataframe_split": {"columns": ["sepal_length"], ',
    json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[1e308, 3.5, 1.4, 0.2]]}}),
]


@dataclass
class LoadFigures:
    seconds: float
    connections: int
    sent: int = 0
    valid_ok: int = 0
    invalid_4xx: int = 0
    wrong_species: int = 0
    valid_rejected: int = 0
    invalid_accepted: int = 0
    server_5xx: int = 0
    connection_errors: int = 0
    timeline: list[tuple[float, str]] = field(default_factory=list, repr=False)

    @property
    def failures(self) -> int:
        return (
            self.wrong_species
            + self.valid_rejected
            + self.invalid_accepted
            + self.server_5xx
            + self.connection_errors
        )

    def count(self, answer: httpx.Response, species: str | None) -> None:
        """One answer, checked: ``species`` is what a valid request must get; None if invalid."""
        if answer.status_code >= 500:
            self.server_5xx += 1
        elif species is None:
            if 400 <= answer.status_code < 500:
                self.invalid_4xx += 1
            else:
                self.invalid_accepted += 1
        elif answer.status_code != 200:
            self.valid_rejected += 1
        elif answer.json()["predictions"][0]["species"] != species:
            self.wrong_species += 1
        else:
            self.valid_ok += 1


def mixed_load(url: str, seconds: float, connections: int, invalid_every: int = 4) -> LoadFigures:
    """Every `invalid_every`-th request is invalid; each answer is checked, not just counted."""
    figures = LoadFigures(seconds, connections)

    async def run() -> None:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        counter = 0

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal counter
            while time.monotonic() < deadline:
                counter += 1
                n = counter
                invalid = n % invalid_every == 0
                if invalid:
                    body = INVALID[n % len(INVALID)]
                else:
                    row, species = VALID[n % len(VALID)]
                    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}})
                figures.sent += 1
                try:
                    r = await client.post(url, content=body)
                except httpx.HTTPError as exc:
                    figures.connection_errors += 1
                    figures.timeline.append((time.monotonic() - started, type(exc).__name__))
                    await asyncio.sleep(0.01)
                    continue
                if r.status_code >= 500:
                    figures.timeline.append((time.monotonic() - started, "5xx"))
                figures.count(r, None if invalid else species)

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(timeout=30, limits=limits, headers=JSON_HEADERS) as client:
            await asyncio.gather(*(worker(client) for _ in range(connections)))

    asyncio.run(run())
    return figures


def status_mb(pid: int, field: str) -> float:
    """One memory line of /proc/PID/status (VmRSS now, VmHWM the peak) in MB; 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def group_rss_mb(pgid: int) -> float:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes: the supervisor's spawned children (not its resource tracker)."""
    return child_pids(parent, b"spawn_main")


def child_pids(parent: int, marker: bytes) -> list[int]:
    """The live children of ``parent`` whose command line holds ``marker``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z" and marker in cmdline:
            pids.append(int(stat.parent.name))
    return sorted(pids)


@dataclass
class KillFigures:
    killed_pid: int
    load: LoadFigures
    recovered_after_s: float | None  # until a replacement worker answered


def kill_worker_under_load(
    url: str, supervisor_pid: int, seconds: float = 10.0, connections: int = 8
) -> KillFigures:
    """SIGKILL one worker a third of the way into a load run; time until the pool is whole again."""
    before = worker_pids(supervisor_pid)
    if len(before) < 2:
        raise RuntimeError(f"need a multi-worker server, found workers {before}")
    result: dict[str, Any] = {}  # victim: its pid; recovered: seconds until whole again

    def killer() -> None:
        time.sleep(seconds / 3)
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        result["victim"] = victim
        while time.monotonic() - killed_at < seconds * 3:
            now = worker_pids(supervisor_pid)
            # The replacement is up once the supervisor sees it alive and the server answers.
            if len(now) >= len(before) and victim not in now and _answers(url):
                result["recovered"] = time.monotonic() - killed_at
                return
            time.sleep(0.05)

    import threading

    thread = threading.Thread(target=killer)
    thread.start()
    load = mixed_load(url, seconds, connections)
    thread.join()
    return KillFigures(int(result["victim"]), load, result.get("recovered"))


def _answers(url: str) -> bool:
    """Whether the server scores one valid row right now."""
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [VALID[0][0]]}})
    try:
        response = httpx.post(url, content=body, headers=JSON_HEADERS, timeout=5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="iris-soak-"))
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # `mlflow run` calls `python`
        "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
        "MLFLOW_EXPERIMENT_NAME": "iris-soak",
    }
    subprocess.run(
        [str(bin_dir / "mlflow"), "run", str(REPO), "--env-manager", "local"],
        env=env,
        cwd=work,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = work / "serve.log"
    command = [
        sys.executable,
        "-m",
        "iris_ml",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    with log.open("wb") as output:
        server = start_group(command, env=env, cwd=work, output=output)
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        try:
            wait_until(lambda: _answers(url), [server], 300, "the server")
        except NotReady as exc:
            raise RuntimeError(f"{exc}: see {log}") from None
        rss_before = group_rss_mb(server.pid)
        soak = mixed_load(url, args.seconds, args.connections)
        rss_after = group_rss_mb(server.pid)
        kill = kill_worker_under_load(url, server.pid)
    finally:
        stop_groups([server], grace=30)
    print(f"Soak: {soak.seconds:.0f} s at {soak.connections} connections, 1 in 4 requests invalid")
    print(json.dumps({k: v for k, v in asdict(soak).items() if k != "timeline"}, indent=2))
    print(
        f"failures: {soak.failures}; serving-tree RSS {rss_before:.0f} MB -> {rss_after:.0f} MB ({rss_after - rss_before:+.0f} MB)"
    )
    print(
        f"Worker {kill.killed_pid} killed (SIGKILL) under load at {kill.load.connections} connections:"
    )
    print(
        f"  requests sent {kill.load.sent}, failed {kill.load.failures} "
        f"({kill.load.connection_errors} connection errors, {kill.load.server_5xx} 5xx)"
    )
    if kill.recovered_after_s is None:
        print("  no recovery seen: the replacement worker never answered")
        return 1
    print(f"  replacement worker answering after {kill.recovered_after_s:.1f} s")
    return 0
