"""Follow the champion: when the alias moves, every worker loads and checks the new version,
then all of them swap to it at once (``python -m iris_ml.serving.launcher --follow``).

MLflow's scoring server loads one model at start. The launcher instead runs
``create_app`` (a uvicorn factory) in each worker: it builds MLflow's own
scoring app for the champion (``scoring_server.init``: every route, format and
answer unchanged) and puts a small ASGI dispatcher in front that can point at
another such app later. Requests already running keep the app they started on,
so none is cut off by a swap.

The workers share a folder (``$IRIS_FOLLOW_DIR``) and agree through files in it:

* one worker holds ``leader.lock`` (flock; another takes over if it dies) and polls
  the registry; when the alias points at a new version it writes ``target.json``;
* every worker loads the target, checks it names the textbook flowers right and
  reports its own version, and leaves ``ready/<v>/<pid>`` (or ``failed/<v>/<pid>``);
* when every worker is ready the leader writes ``active.json``; each worker looks
  at that file's mtime at the start of each request and swaps before serving it.
  So once one answer carries the new version, every request sent after it does too.

A version that fails its check is never activated: the old one keeps serving and
``GET /health`` says which version failed and why. It is not tried again until the
server restarts. A worker that misses a swap (still loading at ``swap_timeout``)
loads the active version afterwards and catches up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iris_ml.contract import FEATURE_NAMES, MODEL_VERSION_KEY, SPECIES_KEY, TEXTBOOK_FLOWERS
from iris_ml.processes import pid_alive
from iris_ml.registry.download import download_model
from iris_ml.serving.handoff import FollowConfig

_log = logging.getLogger("iris_ml.serving.follow")


class CheckFailed(Exception):
    """A version loaded but did not answer the textbook flowers as a champion must."""


@dataclass(frozen=True)
class Loaded:
    version: str
    app: Any  # MLflow's FastAPI scoring app for this version
    model: Any = None  # what that app serves (the wrapped model)


Wrap = Callable[[Any, str], Any]  # (loaded pyfunc model, version) -> what MLflow's app serves


def load_version(
    model_name: str,
    version: str,
    source: str,
    local_path: str | None = None,
    check: bool = True,
    wrap: Wrap | None = None,
) -> Loaded:
    """Download (cached), load, wrap in MLflow's scoring app, and check one version."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    path = local_path or download_model(model_name, version, source)
    model = mlflow.pyfunc.load_model(path, model_config={MODEL_VERSION_KEY: version})
    served = wrap(model, version) if wrap else model
    app = scoring_server.init(served)
    if check:
        # Its own thread and loop: uvicorn calls the factory inside its running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, check_app(app, version)).result()
    return Loaded(version, app, served)


async def check_app(app: Any, version: str) -> None:
    """POST the textbook flowers to the app in-process, as a client would; raise CheckFailed."""
    import httpx

    body = {
        "dataframe_split": {
            "columns": list(FEATURE_NAMES),
            "data": [list(values) for values, _ in TEXTBOOK_FLOWERS],
        }
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://check") as client:
        response = await client.post("/invocations", json=body, timeout=60)
    if response.status_code != 200:
        raise CheckFailed(f"the textbook flowers got HTTP {response.status_code}")
    answers = response.json().get("predictions", [])
    named = [a.get(SPECIES_KEY) for a in answers]
    expected = [species for _, species in TEXTBOOK_FLOWERS]
    if named != expected:
        raise CheckFailed(f"the textbook flowers were named {named}, expected {expected}")
    versions = {str(a.get(MODEL_VERSION_KEY)) for a in answers}
    if versions != {version}:
        raise CheckFailed(f"it reports model_version {sorted(versions)}, expected {version}")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(data))
    os.replace(staging, path)  # atomic: readers see the old file or the new one


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


class ChampionFollower:
    """The ASGI app of one worker: MLflow's app for the current version, swapped when told."""

    def __init__(self, config: FollowConfig, first: Loaded, wrap: Wrap | None = None) -> None:
        self.config = config
        self.wrap = wrap
        self.dir = Path(config.state_dir)
        self.current = first
        self._prepared: dict[str, Loaded] = {}
        self._failed_here: set[str] = set()
        self._active_stamp: tuple[int, int] = (0, 0)  # (inode, mtime) of active.json seen
        self._leader_lock: Any = None
        self._target_since: dict[str, float] = {}
        self._last_poll = 0.0
        self._last_error = ""
        self.worker_id = os.getpid()  # names this worker's ready/failed markers

    @property
    def active_path(self) -> Path:
        return self.dir / "active.json"

    @property
    def target_path(self) -> Path:
        return self.dir / "target.json"

    @property
    def rejected_path(self) -> Path:
        return self.dir / "rejected.json"

    # -- the request path: a stat, and a swap when active.json changed ------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self._swap_if_activated()
            if scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
                await self._health(send)
                return
        await self.current.app(scope, receive, send)

    def serving(self) -> Loaded:
        """The version to answer this request with (swapped first if one was activated)."""
        self._swap_if_activated()
        return self.current

    def _swap_if_activated(self) -> None:
        try:
            stat = os.stat(self.active_path)
        except FileNotFoundError:
            return
        # Every write is a new file (os.replace), so the inode changes even within one mtime tick.
        stamp = (stat.st_ino, stat.st_mtime_ns)
        if stamp == self._active_stamp:
            return
        active = _read_json(self.active_path) or {}
        version = str(active.get("version", ""))
        if version == self.current.version:
            self._active_stamp = stamp
            return
        # pop, not a rebuilt dict: the follow thread may be adding a version at this moment.
        loaded = self._prepared.pop(version, None)
        if loaded is None:
            return  # still loading here: keep serving the old one, look again next request
        previous, self.current = self.current.version, loaded
        self._active_stamp = stamp
        _log.info("now serving %s version %s (was %s)", self.config.model_name, version, previous)

    async def _health(self, send: Any) -> None:
        target = _read_json(self.target_path)
        body = {
            "status": "ok",
            "model_name": self.config.model_name,
            "alias": self.config.alias,
            MODEL_VERSION_KEY: self.current.version,
            "following": True,
            "loading": target.get("version") if target else None,
            "rejected": _read_json(self.rejected_path),
        }
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    # -- the background thread: poll (leader), prepare (everyone), activate (leader) ----
    def start(self, tick: float = 0.2) -> None:
        for sub in ("ready", "failed"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self._loop, args=(tick,), name="follow", daemon=True).start()

    def _loop(self, tick: float) -> None:
        while True:
            try:
                self.step()
            except Exception as exc:  # never let the thread die: the server keeps serving
                self._say_once(f"follow step failed: {_reason(exc)}")
            time.sleep(tick)

    def step(self) -> None:
        leader = self._is_leader()
        now = time.monotonic()
        if leader and now - self._last_poll >= self.config.interval:
            self._last_poll = now
            self._poll_registry()
        self._prepare()
        if leader:
            self._activate_when_ready()
        self._swap_if_activated()  # a worker no request reaches swaps too, and frees the old model

    def _is_leader(self) -> bool:
        if self._leader_lock is None:
            handle = open(self.dir / "leader.lock", "a")  # noqa: SIM115 (held for life)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._leader_lock = handle
        return True

    def close(self) -> None:
        """Give up leadership (the lock's file); a worker that exits gives it up anyway."""
        if self._leader_lock is not None:
            self._leader_lock.close()
            self._leader_lock = None

    def _active_version(self) -> str:
        active = _read_json(self.active_path)
        return str(active["version"]) if active else self.config.version

    def _poll_registry(self) -> None:
        from mlflow.tracking import MlflowClient

        from iris_ml.registry.versions import resolve_alias

        try:
            found = resolve_alias(MlflowClient(), self.config.model_name, self.config.alias)
        except Exception as exc:  # registry down: keep serving what we have
            self._say_once(f"cannot read the registry, keeping the current version: {_reason(exc)}")
            return
        if found is None:
            return
        version = str(found.version)
        target = _read_json(self.target_path)
        rejected = _read_json(self.rejected_path) or {}
        if version == self._active_version():
            if target:  # the alias moved back before the swap: nothing to do
                self.target_path.unlink(missing_ok=True)
            return
        if str(rejected.get("version")) == version or (target and target["version"] == version):
            return
        _log.info("'%s' now points at version %s: loading it", self.config.alias, version)
        # Markers of an earlier round name workers that may have freed that version since.
        shutil.rmtree(self.dir / "ready" / version, ignore_errors=True)
        self._target_since[version] = time.monotonic()
        _write_json(self.target_path, {"version": version, "source": str(found.source)})

    def _prepare(self) -> None:
        target = _read_json(self.target_path)
        active = _read_json(self.active_path)
        keep = {str(record["version"]) for record in (target, active) if record}
        for version in list(self._prepared):
            if version not in keep:  # the alias moved on or back: free its memory
                self._prepared.pop(version, None)
        # The target; with none pending, the active version if this worker missed its swap
        # (it was still loading when the others switched without it).
        record = target or active
        if not record or "source" not in record:
            return
        version = str(record["version"])
        if version == self.current.version:
            if record is target:
                self._mark_ready(version)  # e.g. the alias moved back to what this worker serves
        elif version not in self._prepared and version not in self._failed_here:
            self._load_and_report(version, str(record["source"]))

    def _mark_ready(self, version: str) -> None:
        marker = self.dir / "ready" / version / str(self.worker_id)
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()

    def _load_and_report(self, version: str, source: str) -> None:
        try:
            loaded = load_version(self.config.model_name, version, source, wrap=self.wrap)
        except Exception as exc:
            self._failed_here.add(version)
            reason = _reason(exc)
            _log.warning("version %s failed its check: %s", version, reason)
            failed = self.dir / "failed" / version
            failed.mkdir(parents=True, exist_ok=True)
            (failed / str(self.worker_id)).write_text(reason)
            return
        self._prepared[version] = loaded
        self._mark_ready(version)

    def _activate_when_ready(self) -> None:
        target = _read_json(self.target_path)
        if not target:
            return
        version = str(target["version"])
        failures = sorted((self.dir / "failed" / version).glob("*"))
        if failures:
            reason = failures[0].read_text()
            _write_json(self.rejected_path, {"version": version, "reason": reason})
            self.target_path.unlink(missing_ok=True)
            _log.warning(
                "version %s is not served (%s); version %s keeps serving",
                version, reason, self._active_version(),
            )  # fmt: skip
            return
        ready_dir = self.dir / "ready" / version
        ready = [p for p in ready_dir.glob("*") if p.name.isdigit() and pid_alive(int(p.name))]
        waited = time.monotonic() - self._target_since.setdefault(version, time.monotonic())
        if len(ready) >= self.config.workers or (ready and waited > self.config.swap_timeout):
            _write_json(self.active_path, {"version": version, "source": str(target["source"])})
            self.target_path.unlink(missing_ok=True)
            _log.info("all workers ready: version %s is active", version)

    def _say_once(self, message: str) -> None:
        if message != self._last_error:
            self._last_error = message
            _log.warning(message)


def _configure_logging() -> None:
    if not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s follow[%(process)d] %(message)s"))
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
        _log.propagate = False


def create_follower(wrap: Wrap | None = None) -> ChampionFollower:
    """One worker's follower, started (the serving app's factory calls this in each worker)."""
    _configure_logging()
    config = FollowConfig.from_env()
    active = _read_json(Path(config.state_dir) / "active.json")
    if active and str(active["version"]) != config.version:
        # A worker (re)started after a swap: start on what the others serve.
        from mlflow.tracking import MlflowClient

        version = str(active["version"])
        source = MlflowClient().get_model_version(config.model_name, version).source
        first = load_version(config.model_name, version, str(source), check=False, wrap=wrap)
    else:
        # Not checked: at start the server serves what the alias names, as MLflow's does.
        first = load_version(
            config.model_name, config.version, config.source, config.local_path,
            check=False, wrap=wrap,
        )  # fmt: skip
    follower = ChampionFollower(config, first, wrap)
    with contextlib.suppress(FileExistsError):
        Path(config.state_dir).mkdir(parents=True)
    follower.start()
    return follower
