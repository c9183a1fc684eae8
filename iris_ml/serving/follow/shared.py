"""The folder the workers of one server share, and the files they agree through."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any

from iris_ml.processes import pid_alive

Record = dict[str, Any]  # {"version": ..., "source": ...}


def read_json(path: Path) -> Record | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def write_json(path: Path, data: Record) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(data))
    os.replace(staging, path)  # atomic: readers see the old file or the new one


class SharedFolder:
    """``target.json`` (to load), ``active.json`` (to serve), ``rejected.json`` (failed its
    check), ``ready/<v>/<pid>`` and ``failed/<v>/<pid>`` markers, and the leader's lock."""

    def __init__(self, folder: str | Path) -> None:
        self.dir = Path(folder)
        self.active = self.dir / "active.json"
        self.target = self.dir / "target.json"
        self.rejected = self.dir / "rejected.json"
        self.unreachable = self.dir / "registry-unreachable.json"  # since when, and why

    def create(self) -> None:
        for sub in ("ready", "failed"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)

    def read(self, path: Path) -> Record | None:
        return read_json(path)

    def write(self, path: Path, record: Record) -> None:
        write_json(path, record)

    def mark_ready(self, version: str, worker: int) -> None:
        marker = self.dir / "ready" / version / str(worker)
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()

    def mark_failed(self, version: str, worker: int, reason: str) -> None:
        failed = self.dir / "failed" / version
        failed.mkdir(parents=True, exist_ok=True)
        (failed / str(worker)).write_text(reason)

    def first_failure(self, version: str) -> str | None:
        failures = sorted((self.dir / "failed" / version).glob("*"))
        return failures[0].read_text() if failures else None

    def ready_workers(self, version: str) -> int:
        """Live workers that have loaded and checked ``version``."""
        markers = (self.dir / "ready" / version).glob("*")
        return sum(1 for p in markers if p.name.isdigit() and pid_alive(int(p.name)))

    def forget_ready(self, version: str) -> None:
        # Markers of an earlier round name workers that may have freed that version since.
        shutil.rmtree(self.dir / "ready" / version, ignore_errors=True)

    def try_lock(self) -> IO[str] | None:
        """The leader's lock, held for as long as the handle stays open; None if another holds it."""
        handle = open(self.dir / "leader.lock", "a")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
        return handle
