"""The one worker that watches the registry: it names the target, then activates or rejects it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from iris_ml.serving.follow.shared import SharedFolder
from iris_ml.serving.handoff import FollowConfig

_log = logging.getLogger("iris_ml.serving.follow")


class SayOnce:
    """Log a warning once until it changes (a registry down for an hour is one line)."""

    def __init__(self) -> None:
        self._last = ""

    def __call__(self, message: str) -> None:
        if message != self._last:
            self._last = message
            _log.warning(message)


# (version, source) -> what the target record adds (its downloaded "path"); raises if unfit
Prepare = Callable[[str, str], dict[str, Any]]


class Leader:
    """Leadership (a lock another worker takes over if this one dies), the registry poll and
    the activation; every worker has one, only the lock holder acts."""

    def __init__(
        self,
        config: FollowConfig,
        folder: SharedFolder,
        say_once: Callable[[str], None],
        prepare: Prepare | None = None,
        lock: IO[str] | None = None,
    ) -> None:
        self.config = config
        self.folder = folder
        self.say_once = say_once
        self.prepare = prepare
        self._lock = lock
        self._last_poll = 0.0
        self._target_since: dict[str, float] = {}

    def holds_lock(self) -> bool:
        if self._lock is None:
            self._lock = self.folder.try_lock()
        return self._lock is not None

    def release(self) -> None:
        """Give up leadership; a worker that exits gives it up anyway."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def active_version(self) -> str:
        active = self.folder.read(self.folder.active)
        return str(active["version"]) if active else self.config.version

    def poll_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_poll >= self.config.interval:
            self._last_poll = now
            self.poll_registry()

    def poll_registry(self) -> None:
        from iris_ml.registry.versions import aliased_version

        try:
            found = aliased_version(self.config.model_name, self.config.alias)
        except Exception as exc:  # registry down: keep serving what we have
            from iris_ml.serving.follow.loading import reason

            self.say_once(f"cannot read the registry, keeping the current version: {reason(exc)}")
            self._record_unreachable(reason(exc))
            return
        self.folder.unreachable.unlink(missing_ok=True)
        if found is not None:
            self._aim_at(str(found.version), str(found.source))

    def _record_unreachable(self, why: str) -> None:
        """What every worker's /health shows: since when the registry has not answered, and why."""
        since = (self.folder.read(self.folder.unreachable) or {}).get("since")
        if since is None:
            since = datetime.now(UTC).isoformat(timespec="seconds")
        self.folder.write(self.folder.unreachable, {"since": since, "reason": why})

    def _aim_at(self, version: str, source: str) -> None:
        folder = self.folder
        target = folder.read(folder.target)
        rejected = folder.read(folder.rejected) or {}
        if version == self.active_version():
            if target:  # the alias moved back before the swap: nothing to do
                folder.target.unlink(missing_ok=True)
            return
        if str(rejected.get("version")) == version or (target and target["version"] == version):
            return
        _log.info("'%s' now points at version %s: loading it", self.config.alias, version)
        record: dict[str, Any] = {"version": version, "source": source}
        if self.prepare is not None:
            from iris_ml.serving.follow.loading import reason

            try:
                record |= self.prepare(version, source)
            except Exception as exc:  # never offered to the workers
                return self._reject(version, reason(exc))
        folder.forget_ready(version)
        self._target_since[version] = time.monotonic()
        folder.write(folder.target, record)

    def activate_when_ready(self) -> None:
        folder = self.folder
        target = folder.read(folder.target)
        if not target:
            return
        version = str(target["version"])
        if (failure := folder.first_failure(version)) is not None:
            return self._reject(version, failure)
        ready = folder.ready_workers(version)
        waited = time.monotonic() - self._target_since.setdefault(version, time.monotonic())
        if ready >= self.config.workers or (ready and waited > self.config.swap_timeout):
            folder.write(folder.active, target)
            folder.target.unlink(missing_ok=True)
            _log.info("all workers ready: version %s is active", version)

    def _reject(self, version: str, failure: str) -> None:
        self.folder.write(self.folder.rejected, {"version": version, "reason": failure})
        self.folder.target.unlink(missing_ok=True)
        _log.warning(
            "version %s is not served (%s); version %s keeps serving",
            version, failure, self.active_version(),
        )  # fmt: skip
