"""The follow protocol between workers, two followers in one process, registry and models faked.

The real thing (uvicorn workers, MLflow's app, a registry, load) is
tests/integration/test_champion.py; here each step of the protocol is driven by hand.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from types import SimpleNamespace

import pytest

from iris_ml.serving.follow import follower
from iris_ml.serving.follow.follower import ChampionFollower
from iris_ml.serving.follow.leader import Leader, SayOnce
from iris_ml.serving.follow.loading import CheckFailed, Loaded
from iris_ml.serving.follow.shared import SharedFolder, write_json
from iris_ml.serving.handoff import FollowConfig


def version_app(version: str, gate: asyncio.Event | None = None):
    """An ASGI app answering its version; with ``gate`` it waits before answering."""

    async def app(scope, receive, send):
        if gate is not None:
            await gate.wait()
        body = json.dumps({"version": version}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


async def call(app, path: str = "/invocations", method: str = "POST") -> dict:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "path": path, "method": method}, receive, send)
    return json.loads(sent[-1]["body"])


@pytest.fixture
def registry(monkeypatch):
    """The alias as the fake registry reports it; set ``registry.version`` to move it."""
    state = SimpleNamespace(version="1", error=None)

    def resolve_alias(client, name, alias):
        if state.error:
            raise state.error
        return SimpleNamespace(version=state.version, source=f"models:/m-{state.version}")

    monkeypatch.setattr("iris_ml.registry.versions.resolve_alias", resolve_alias)
    monkeypatch.setattr("mlflow.tracking.MlflowClient", lambda: None)
    return state


@pytest.fixture
def loads(monkeypatch):
    """Versions named in ``loads.broken`` fail their check; every load is counted."""
    state = SimpleNamespace(broken=set(), count=0, paths=[])

    def load_version(version, path, serve, check=True):
        state.paths.append(path)
        state.count += 1
        if version in state.broken:
            raise CheckFailed("the textbook flowers were named ['setosa', 'virginica']")
        return Loaded(version, version_app(version))

    monkeypatch.setattr(follower, "load_version", load_version)
    downloaded = lambda name, version, source: f"/downloaded/{version}"  # noqa: E731
    monkeypatch.setattr("iris_ml.registry.download.download_model", downloaded)
    return state


@pytest.fixture
def workers(tmp_path):
    made = two_workers(tmp_path)
    yield made
    for worker in made:
        worker.close()


def two_workers(tmp_path, swap_timeout: float = 120.0) -> list[ChampionFollower]:
    config = FollowConfig(
        state_dir=str(tmp_path), model_name="iris-classifier", alias="champion", version="1",
        source="models:/m-1", local_path="", workers=2, interval=0.0, swap_timeout=swap_timeout,
    )  # fmt: skip
    workers = []
    for worker_id in (os.getpid(), os.getppid()):  # two live pids stand for two workers
        worker = ChampionFollower(config, Loaded("1", version_app("1")), serve=unused)
        worker.worker_id = worker_id
        (tmp_path / "ready").mkdir(exist_ok=True)
        (tmp_path / "failed").mkdir(exist_ok=True)
        workers.append(worker)
    return workers


def unused(path, version):
    raise AssertionError("the tests load through the faked load_version")


def served(workers) -> list[str]:
    return [asyncio.run(call(w))["version"] for w in workers]


def test_the_new_version_is_activated_only_when_every_worker_has_it(
    tmp_path, registry, loads, workers
):
    leader, other = workers
    leader.step()
    other.step()
    assert served([leader, other]) == ["1", "1"]

    registry.version = "2"
    leader.step()  # polls: target 2; loads it; waits for the other worker
    assert (tmp_path / "target.json").exists() and not (tmp_path / "active.json").exists()
    assert served([leader, other]) == ["1", "1"]
    other.step()  # loads 2
    assert served([leader, other]) == ["1", "1"]
    leader.step()  # both ready: activate
    assert json.loads((tmp_path / "active.json").read_text())["version"] == "2"
    assert served([leader, other]) == ["2", "2"]
    assert loads.count == 2  # once per worker


def test_a_request_in_flight_finishes_on_the_version_it_started_on(
    tmp_path, registry, loads, workers
):
    worker = workers[0]
    gate = asyncio.Event()
    worker.current = Loaded("1", version_app("1", gate))

    async def scenario():
        in_flight = asyncio.create_task(call(worker))
        await asyncio.sleep(0)  # the request has entered version 1's app
        worker._prepared["2"] = Loaded("2", version_app("2"))
        write_json(tmp_path / "active.json", {"version": "2"})
        after = await call(worker)
        gate.set()
        return (await in_flight)["version"], after["version"]

    assert asyncio.run(scenario()) == ("1", "2")


def test_a_version_that_fails_its_check_is_never_activated(tmp_path, registry, loads, workers):
    leader, other = workers
    loads.broken = {"2"}
    registry.version = "2"
    for worker in (leader, other, leader):
        worker.step()
    assert not (tmp_path / "active.json").exists()
    assert not (tmp_path / "target.json").exists()
    health = leader.health()
    assert health["model_version"] == "1"
    assert health["rejected"]["version"] == "2"
    assert "CheckFailed" in health["rejected"]["reason"]
    count = loads.count
    for worker in (leader, other, leader):
        worker.step()
    assert loads.count == count  # a rejected version is not tried again

    registry.version = "3"  # the next move is judged on its own
    for worker in (leader, other, leader):
        worker.step()
    assert served([leader, other]) == ["3", "3"]


def test_an_alias_moved_back_before_the_swap_cancels_it(tmp_path, registry, loads, workers):
    leader, other = workers
    registry.version = "2"
    leader.step()
    registry.version = "1"
    leader.step()
    assert not (tmp_path / "target.json").exists()
    other.step()
    leader.step()
    assert served([leader, other]) == ["1", "1"]
    assert not (tmp_path / "active.json").exists()
    assert leader._prepared == {} and other._prepared == {}  # version 2 no longer held


def test_a_worker_still_loading_at_the_timeout_catches_up_after_the_swap(tmp_path, registry, loads):
    leader, late = two_workers(tmp_path, swap_timeout=-1)  # activate with whoever is ready
    try:
        registry.version = "2"
        leader.step()  # target, loaded here, activated without the late worker
        assert not (tmp_path / "target.json").exists()
        assert served([leader, late]) == ["2", "1"]
        late.step()  # loads the active version although no target names it any more
        assert served([leader, late]) == ["2", "2"]
    finally:
        leader.close()
        late.close()


def test_moves_back_and_forth_each_wait_for_every_worker(tmp_path, registry, loads, workers):
    leader, other = workers
    for version, before in (("2", "1"), ("1", "2"), ("2", "1")):
        registry.version = version
        leader.step()  # target set, loaded here; the other worker has not loaded it yet
        assert [w.current.version for w in workers] == [before, before]
        assert served(workers) == [before, before]  # ready markers of an earlier round don't count
        other.step()
        leader.step()  # activates and swaps
        other.step()  # swaps although no request reached it
        assert [w.current.version for w in workers] == [version, version]
    assert all(len(w._prepared) == 0 for w in workers)  # nothing but the served version held


def test_a_worker_already_serving_the_target_counts_as_ready(tmp_path, registry, loads):
    leader, late = two_workers(tmp_path, swap_timeout=-1)
    try:
        registry.version = "2"
        leader.step()  # activated without the late worker, which still serves 1
        leader.leader.config = dataclasses.replace(leader.config, swap_timeout=120.0)
        registry.version = "1"  # rolled back to what the late worker serves
        leader.step()
        assert served([leader, late]) == ["2", "1"]
        late.step()  # ready for 1 without loading anything
        leader.step()
        assert served([leader, late]) == ["1", "1"]
        assert loads.count == 2  # 2 and 1 on the leader; nothing on the late worker
    finally:
        leader.close()
        late.close()


def test_a_second_activation_within_one_mtime_tick_is_still_seen(tmp_path, workers):
    worker = workers[0]
    active = tmp_path / "active.json"
    for version in ("2", "3"):
        worker._prepared[version] = Loaded(version, version_app(version))
    write_json(active, {"version": "2", "source": "models:/m-2"})
    assert served([worker]) == ["2"]
    tick = os.stat(active).st_mtime_ns
    write_json(active, {"version": "3", "source": "models:/m-3"})
    os.utime(active, ns=(tick, tick))  # a coarse clock: same mtime as the previous write
    assert served([worker]) == ["3"]


def test_a_registry_that_cannot_be_read_changes_nothing_and_is_said_once(
    tmp_path, registry, loads, workers, caplog
):
    leader, other = workers
    registry.error = ConnectionError("connection refused")
    with caplog.at_level("WARNING", logger="iris_ml.serving.follow"):
        for _ in range(3):
            leader.step()
    assert served([leader, other]) == ["1", "1"]
    assert [r.getMessage() for r in caplog.records] == [
        "cannot read the registry, keeping the current version: ConnectionError: connection refused"
    ]
    # Every worker's /health says so: still serving version 1, the registry down since when.
    health = other.health()
    assert health["status"] == "degraded" and health["model_version"] == "1"
    down = health["registry_unreachable"]
    assert down["reason"] == "ConnectionError: connection refused" and down["since"]
    since = down["since"]
    leader.step()
    assert other.health()["registry_unreachable"]["since"] == since
    registry.error = None  # it answers again
    leader.step()
    health = other.health()
    assert health["status"] == "ok" and health["registry_unreachable"] is None


def test_only_one_worker_leads(tmp_path, registry, loads, workers):
    leader, other = workers
    assert leader.leader.holds_lock() is True
    assert other.leader.holds_lock() is False


def test_a_watcher_offers_the_workers_only_versions_it_downloaded_and_checked(
    tmp_path, registry, loads, workers
):
    config = workers[0].config
    checked: list[str] = []

    def prepare(version, source):
        checked.append(version)
        if version == "3":
            raise CheckFailed("the textbook flowers were named ['setosa', 'virginica']")
        return {"path": f"/watched/{version}"}

    folder = SharedFolder(tmp_path)
    watcher = Leader(config, folder, SayOnce(), prepare, lock=folder.try_lock())
    assert [w.leader.holds_lock() for w in workers] == [False, False]  # the watcher leads

    registry.version = "2"
    watcher.poll_registry()
    for worker in workers:
        worker.step()
    assert loads.paths == ["/watched/2", "/watched/2"]  # its download: none of their own
    watcher.activate_when_ready()
    assert served(workers) == ["2", "2"]

    registry.version = "3"  # fails the watcher's check: no worker ever loads it
    watcher.poll_registry()
    for worker in workers:
        worker.step()
    assert checked == ["2", "3"] and loads.count == 2
    assert not (tmp_path / "target.json").exists()
    assert workers[1].health()["rejected"]["version"] == "3"
    assert served(workers) == ["2", "2"]
    watcher.release()
