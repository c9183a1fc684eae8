"""The one process that watches the registry for a following server (issue 34).

The launcher starts it just before it becomes uvicorn, and hands it the leader's lock:
it resolves the alias, downloads each new version and checks it once, through MLflow's
own scoring app, for all the workers. The workers then load the downloaded folder (with
numpy alone when it has a linear scorer) and check its answer; none imports MLflow to
follow. It runs at a lower priority than the workers and exits when the server does. If
it dies, its lock is freed and a worker leads as before (``leader.py``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from iris_ml.serving.follow.leader import Leader, SayOnce
from iris_ml.serving.follow.shared import SharedFolder
from iris_ml.serving.handoff import FOLLOW_ENV, FollowConfig

TICK = 0.2  # seconds between steps, as the workers' follow thread


def start_watcher(config: FollowConfig, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start the watcher holding the leader's lock, taken here so no worker takes it first."""
    folder = SharedFolder(config.state_dir)
    folder.create()
    lock = folder.try_lock()
    if lock is None:  # the folder is this server's own and new: nobody else can hold it
        raise RuntimeError(f"the leader's lock in {config.state_dir} is held already")
    with lock:  # the watcher's copy of the descriptor holds the lock from here on
        fd = lock.fileno()
        return subprocess.Popen(
            [sys.executable, "-m", __name__, str(fd), str(os.getpid())],
            pass_fds=(fd,),
            env={**env, FOLLOW_ENV: config.to_env()},
            stdin=subprocess.DEVNULL,
        )


def checked_download(model_name: str) -> Any:
    """Download a version and check it through MLflow's app; what the workers' target adds."""
    from iris_ml.registry.download import download_model
    from iris_ml.serving.follow.loading import load_version
    from iris_ml.serving.served import serving

    full = serving(None, None, eager_mlflow=True)  # MLflow's own app, every route as served

    def prepare(version: str, source: str) -> dict[str, Any]:
        path = download_model(model_name, version, source)
        load_version(version, path, full)  # raises CheckFailed with the reason
        return {"path": path}

    return prepare


def watch(leader: Leader, parent: int) -> None:
    """Poll and activate until the server (our parent) is gone."""
    while os.getppid() == parent:
        try:
            leader.poll_if_due()
            leader.activate_when_ready()
        except Exception as exc:  # never stop watching: the workers keep serving meanwhile
            from iris_ml.serving.follow.loading import reason

            leader.say_once(f"follow step failed: {reason(exc)}")
        time.sleep(TICK)


def main(argv: list[str]) -> int:
    from iris_ml.serving.follow.follower import configure_logging

    fd, parent = int(argv[0]), int(argv[1])
    os.nice(10)  # the workers' start-up and requests come first on a busy machine
    configure_logging()
    config = FollowConfig.from_env()
    lock = os.fdopen(fd, "a")
    folder = SharedFolder(config.state_dir)
    leader = Leader(config, folder, SayOnce(), checked_download(config.model_name), lock)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole group: quiet
        watch(leader, parent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
