"""Champion operations and a server that follows the champion, on a real registry and server.

One SQLite registry for the module: version 1 promoted by the gate; version 2 rejected by it
(C=0.01: it calls Fisher's first versicolor a virginica); version 3 promoted (another split,
the tolerance opened). Each test puts the alias where it needs it first.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from benchmarks.soak import child_pids, worker_pids
from iris_ml.contract import FEATURE_NAMES, TEXTBOOK_FLOWERS
from iris_ml.processes import pid_alive, wait_until
from tests import procs

pytestmark = pytest.mark.integration
MODEL = "iris-classifier"


@dataclass(frozen=True)
class Registry:
    root: Path
    uri: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    root = tmp_path_factory.mktemp("champion")
    uri = f"sqlite:///{root}/mlflow.db"
    first = procs.mlflow_run(uri, root)
    assert first.returncode == 0, first.stderr[-3000:]
    rejected = procs.mlflow_run(uri, root, "C=0.01")
    assert "NOT PROMOTED" in rejected.stdout, rejected.stdout[-3000:]
    third = procs.mlflow_run(uri, root, "seed=3", "tolerance=1")
    assert "PROMOTED: 'champion' -> version 3" in third.stdout, third.stdout[-3000:]
    return Registry(root, uri)


def champion_cli(registry: Registry, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iris_ml", "champion", *args],
        env=procs.base_env(registry.uri, GITHUB_ACTOR=""),
        cwd=registry.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def champion_version(registry: Registry) -> str:
    return str(MlflowClient(registry.uri).get_model_version_by_alias(MODEL, "champion").version)


def put_champion_on(registry: Registry, version: str) -> None:
    if str(champion_version(registry)) != version:
        result = champion_cli(registry, "set", version, "--reason", "test setup", "--force")
        assert result.returncode == 0, result.stderr


def test_show_set_refuse_force_rollback_and_history(registry):
    put_champion_on(registry, "1")
    shown = json.loads(champion_cli(registry, "--json", "show").stdout)
    assert (shown["version"], shown["gate"]) == ("1", "passed")
    assert set(shown["metrics"]) == {"accuracy", "f1_macro", "log_loss"}
    assert shown["since"]  # training recorded its move

    refused = champion_cli(registry, "set", "2", "--reason", "try it")
    assert refused.returncode == 1
    assert "rejected by the gate" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert champion_version(registry) == "1"

    missing = champion_cli(registry, "set", "99", "--reason", "typo")
    assert (missing.returncode, missing.stderr.strip()) == (1, f"error: {MODEL} has no version 99.")

    forced = champion_cli(registry, "set", "2", "--reason", "canary by hand", "--force")
    assert forced.returncode == 0, forced.stderr
    assert champion_version(registry) == "2"

    back = champion_cli(registry, "rollback", "--reason", "canary looked wrong")
    assert back.returncode == 0, back.stderr
    assert champion_version(registry) == "1"

    moves = json.loads(champion_cli(registry, "--json", "history").stdout)
    assert [(m["version"], m["previous"]) for m in moves[-2:]] == [("2", "1"), ("1", "2")]
    assert moves[-2]["reason"] == "canary by hand (forced past the gate)"
    assert moves[-1]["reason"] == "rollback from 2: canary looked wrong"
    assert all(m["by"] for m in moves)
    assert moves[0]["by"].startswith("train.py, run ") and moves[0]["previous"] is None
    assert json.loads(champion_cli(registry, "--json", "show").stdout)["since"] == moves[-1]["at"]

    text = champion_cli(registry, "history").stdout
    assert "version 1 (from 2)" in text and "canary looked wrong" in text


def flower_body() -> dict:
    rows = [list(values) for values, _ in TEXTBOOK_FLOWERS]
    return {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": rows}}


def answered_version(base: str) -> str:
    response = httpx.post(base + "/invocations", json=flower_body(), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]["model_version"]


def test_serve_a_pinned_version(registry):
    put_champion_on(registry, "1")
    server, base = procs.serve(registry.uri, registry.root, "--version", "2", "--workers", "1")
    try:
        assert answered_version(base) == "2"
        health = httpx.get(base + "/health", timeout=10).json()
    finally:
        server.stop()
    assert "version 2 (version 2, pinned)" in server.output()
    # Version 2 is the one the gate rejected: said once at start, and in /health.
    assert server.output().count("warning: version 2 did not pass the gate (") == 1
    assert (health["status"], health["model_version"], health["following"]) == (
        "warning",
        "2",
        False,
    )
    assert "below the floor" in health["gate_rejected"]


@dataclass
class Answer:
    sent: float
    received: float
    version: str | None
    error: str | None


def load(base: str, stop: threading.Event, answers: list[list[Answer]], index: int) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                response = client.post(base + "/invocations", json=flower_body())
                ok = response.status_code == 200
                version = response.json()["predictions"][0]["model_version"] if ok else None
                error = None if ok else f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                version, error = None, repr(exc)
            answers[index].append(Answer(sent, time.monotonic(), version, error))


def wait_for_version(answers: list[list[Answer]], version: str, after: float) -> float:
    """When the first answer carrying ``version`` arrived, among requests sent after ``after``."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        arrived = [
            a.received
            for lane in answers
            for a in list(lane)
            if a.version == version and a.sent > after
        ]
        if arrived:
            return min(arrived)
        time.sleep(0.1)
    raise AssertionError(f"no answer from version {version} within 90 s")


def test_a_following_server_swaps_under_load_without_a_failed_request(registry):
    put_champion_on(registry, "1")
    server, base = procs.serve(
        registry.uri, registry.root, "--follow", "--follow-interval", "0.5", "--workers", "2"
    )
    stop = threading.Event()
    watcher: list[int] = []
    answers: list[list[Answer]] = [[] for _ in range(4)]
    lanes = [threading.Thread(target=load, args=(base, stop, answers, i)) for i in range(4)]
    try:
        for lane in lanes:
            lane.start()
        wait_for_version(answers, "1", time.monotonic())

        forward = time.monotonic()
        assert champion_cli(registry, "set", "3", "--reason", "swap").returncode == 0
        first_v3 = wait_for_version(answers, "3", forward)

        backward = time.monotonic()
        assert champion_cli(registry, "rollback", "--reason", "swap back").returncode == 0
        first_v1_again = wait_for_version(answers, "1", backward)
        time.sleep(1)
        stop.set()
        for lane in lanes:
            lane.join(60)

        # The watcher followed for them: the workers never loaded MLflow's libraries (issue 34).
        watcher[:] = child_pids(server.popen.pid, b"iris_ml.serving.follow.watcher")
        assert len(watcher) == 1
        assert [procs.heavy_libraries(pid) for pid in worker_pids(server.popen.pid)] == [set()] * 2

        everything = [a for lane in answers for a in lane]
        assert len(everything) > 100
        assert [a.error for a in everything if a.error] == []
        # Clean switches: once an answer carried the new version, every request sent after it
        # was answered by the new version, until the next move.
        assert {a.version for a in everything if first_v3 < a.sent < backward} == {"3"}
        assert {a.version for a in everything if a.sent > first_v1_again} == {"1"}
        for lane in answers:
            versions = [a.version for a in lane]
            changes = sum(1 for x, y in itertools.pairwise(versions) if x != y)
            assert changes == 2, versions
    finally:
        stop.set()
        server.stop()
    procs_left = lambda: not any(pid_alive(pid) for pid in watcher)  # noqa: E731
    wait_until(procs_left, [], 10, "the watcher to stop with the server")


def test_a_version_that_fails_its_check_is_not_swapped_in(registry):
    put_champion_on(registry, "1")
    server, base = procs.serve(
        registry.uri, registry.root, "--follow", "--follow-interval", "0.5", "--workers", "2"
    )
    try:
        # Version 2 misnames Fisher's first versicolor: forced past the gate, not past the check.
        assert champion_cli(registry, "set", "2", "--reason", "bad", "--force").returncode == 0
        deadline = time.monotonic() + 60
        while (health := httpx.get(base + "/health", timeout=10).json())["rejected"] is None:
            assert time.monotonic() < deadline, health
            assert answered_version(base) == "1"
            time.sleep(0.2)
        assert health["rejected"]["version"] == "2"
        assert "versicolor" in health["rejected"]["reason"]
        assert health["model_version"] == "1"
        assert all(answered_version(base) == "1" for _ in range(20))
        assert "version 2 is not served" in server.output()
    finally:
        server.stop()
