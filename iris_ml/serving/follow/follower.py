"""One worker's ASGI app: MLflow's app for the version it serves, swapped when told to."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from iris_ml.contract import MODEL_VERSION_KEY
from iris_ml.serving.follow.leader import Leader, SayOnce
from iris_ml.serving.follow.loading import Loaded, load_version, reason
from iris_ml.serving.follow.shared import Record, SharedFolder
from iris_ml.serving.handoff import FollowConfig
from iris_ml.serving.lazy_app import LazyMlflowApp
from iris_ml.serving.served import Serve

_log = logging.getLogger("iris_ml.serving.follow")


class ChampionFollower:
    """Serves the current version; a background thread prepares the next and swaps it in."""

    def __init__(self, config: FollowConfig, first: Loaded, serve: Serve) -> None:
        self.config = config
        self.serve = serve
        self.folder = SharedFolder(config.state_dir)
        self._say_once = SayOnce()
        self.leader = Leader(config, self.folder, self._say_once)
        self.current = first
        self._prepared: dict[str, Loaded] = {}
        self._failed_here: set[str] = set()
        self._active_stamp: tuple[int, int] = (0, 0)  # (inode, mtime) of active.json seen
        self.worker_id = os.getpid()  # names this worker's ready/failed markers

    # -- the request path: a stat, and a swap when active.json changed ------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self._swap_if_activated()
        await self.current.app(scope, receive, send)

    def serving(self) -> Loaded:
        """The version to answer this request with (swapped first if one was activated)."""
        self._swap_if_activated()
        return self.current

    async def ready(self, path: str, seconds: float) -> bool:
        """Whether the served version's app answers ``path`` within ``seconds`` (lazy_app.py)."""
        app = self.serving().app
        return not isinstance(app, LazyMlflowApp) or await app.ready(path, seconds)

    def _swap_if_activated(self) -> None:
        try:
            stat = os.stat(self.folder.active)
        except FileNotFoundError:
            return
        # Every write is a new file (os.replace), so the inode changes even within one mtime tick.
        stamp = (stat.st_ino, stat.st_mtime_ns)
        if stamp == self._active_stamp:
            return
        active = self.folder.read(self.folder.active) or {}
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

    def health(self) -> dict[str, Any]:
        """What ``/health`` says: the version served, the one loading, the registry's state."""
        target = self.folder.read(self.folder.target)
        unreachable = self.folder.read(self.folder.unreachable)
        return {
            # Still 200 and still serving: "degraded" says the alias is not being followed now.
            "status": "degraded" if unreachable else "ok",
            "model_name": self.config.model_name,
            "alias": self.config.alias,
            MODEL_VERSION_KEY: self.current.version,
            "following": True,
            "loading": target.get("version") if target else None,
            "rejected": self.folder.read(self.folder.rejected),
            "registry_unreachable": unreachable,
        }

    # -- the background thread: poll (leader), prepare (everyone), activate (leader) ----
    def start(self, tick: float = 0.2) -> None:
        self.folder.create()
        threading.Thread(target=self._loop, args=(tick,), name="follow", daemon=True).start()

    def _loop(self, tick: float) -> None:
        while True:
            try:
                self.step()
            except Exception as exc:  # never let the thread die: the server keeps serving
                self._say_once(f"follow step failed: {reason(exc)}")
            time.sleep(tick)

    def step(self) -> None:
        leads = self.leader.holds_lock()
        if leads:
            self.leader.poll_if_due()
        self._prepare()
        if leads:
            self.leader.activate_when_ready()
        self._swap_if_activated()  # a worker no request reaches swaps too, and frees the old model

    def close(self) -> None:
        self.leader.release()

    def _prepare(self) -> None:
        target = self.folder.read(self.folder.target)
        active = self.folder.read(self.folder.active)
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
            if record is target:  # e.g. the alias moved back to what this worker serves
                self.folder.mark_ready(version, self.worker_id)
        elif version not in self._prepared and version not in self._failed_here:
            self._load_and_report(version, record)

    def _load_and_report(self, version: str, record: Record) -> None:
        try:
            path = local_folder(self.config.model_name, record)
            loaded = load_version(version, path, self.serve)
        except Exception as exc:
            self._failed_here.add(version)
            why = reason(exc)
            _log.warning("version %s failed its check: %s", version, why)
            self.folder.mark_failed(version, self.worker_id, why)
            return
        self._prepared[version] = loaded
        self.folder.mark_ready(version, self.worker_id)


def configure_logging() -> None:
    if not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s follow[%(process)d] %(message)s"))
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
        _log.propagate = False


def local_folder(model_name: str, record: Record) -> str:
    """The version's folder: downloaded by the watcher (``watcher.py``), else here."""
    if path := record.get("path"):
        return str(path)
    from iris_ml.registry.download import download_model

    return download_model(model_name, str(record["version"]), str(record["source"]))


def create_follower(serve: Serve) -> ChampionFollower:
    """One worker's follower, started (the serving app's factory calls this in each worker)."""
    configure_logging()
    config = FollowConfig.from_env()
    folder = SharedFolder(config.state_dir)
    active = folder.read(folder.active)
    if active and str(active["version"]) != config.version:
        # A worker (re)started after a swap: start on what the others serve.
        version, path = str(active["version"]), local_folder(config.model_name, active)
    else:
        version, path = config.version, config.local_path
    # Not checked: at start the server serves what the alias names, as MLflow's does; a
    # restarted worker serves what the others checked.
    first = load_version(version, path, serve, check=False)
    follower = ChampionFollower(config, first, serve)
    with contextlib.suppress(FileExistsError):
        Path(config.state_dir).mkdir(parents=True)
    follower.start()
    return follower
