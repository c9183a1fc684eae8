"""What the launcher hands every uvicorn worker, and nothing else (standard library only).

The launcher and the worker app never import each other: the launcher writes these
settings into the workers' environment and names the app by string
(``WORKER_APP``), as MLflow's scoring server and BentoML's supervisor do.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from iris_ml.contract import MAX_BODY_BYTES
from iris_ml.processes import pid_alive

WORKER_APP = "iris_ml.serving.app:create_app"  # a uvicorn --factory
SERVING_ENV = "IRIS_SERVING"
FOLLOW_ENV = "IRIS_FOLLOW"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multi-process folder


@dataclass(frozen=True)
class PayloadLogSettings:
    folder: str
    max_total_bytes: int  # per worker (the launcher's --payload-max-mb)
    sample_rate: float = 1.0  # share of requests whose rows are written
    max_file_bytes: int = 16 * 1024 * 1024
    max_queued_rows: int = 200_000  # ~10 MB of pending rows per worker at most
    flush_interval: float = 0.2  # seconds: rows reach the file this late at most (plus writing)


@dataclass(frozen=True)
class Limits:
    """What one request may ask of a worker (``door.py`` refuses the rest)."""

    max_body_bytes: int = MAX_BODY_BYTES
    timeout: int = 60  # seconds to score one request before a 504 (MLflow's own default)
    # Scoring requests one worker holds at once before answering 503: the bench's 32 clients
    # on 2 workers keep 16 each; a queue much longer only turns overload into timeouts.
    max_queue: int = 128


@dataclass(frozen=True)
class LayerSettings:
    """What every worker's layer needs (JSON in ``$IRIS_SERVING``)."""

    model_path: str | None = None  # served as is (without --follow)
    version: str | None = None
    model_name: str | None = None  # None: a --model-path folder, not a registered version
    gate_rejected: str | None = None  # why the gate rejected the pinned version
    log_requests: bool = False
    payloads: PayloadLogSettings | None = None
    fast_path: bool = True  # answer plain requests in the layer (fast_path.py)
    # Load MLflow's app at start, not on the first request that needs it (lazy_app.py).
    eager_mlflow: bool = False
    limits: Limits = Limits()
    # Where the keys are (never the keys): None reads $SERVING_KEY, which the workers inherit.
    key_file: str | None = None

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> LayerSettings:
        data = json.loads(os.environ[SERVING_ENV])
        payloads, limits = data.pop("payloads"), data.pop("limits")
        return cls(
            **data,
            payloads=PayloadLogSettings(**payloads) if payloads else None,
            limits=Limits(**limits),
        )


@dataclass(frozen=True)
class FollowConfig:
    """What every worker's champion follower needs (JSON in ``$IRIS_FOLLOW``)."""

    state_dir: str
    model_name: str
    alias: str
    version: str  # the version the launcher resolved and downloaded
    source: str
    local_path: str
    workers: int
    interval: float = 10.0  # seconds between registry polls
    swap_timeout: float = 120.0  # activate without a worker that is still loading after this

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FollowConfig:
        return cls(**json.loads(env[FOLLOW_ENV]))


def state_dir() -> Path:
    """A folder the workers share, named after the server's pid; stale ones are removed."""
    parent = Path(tempfile.gettempdir()) / "iris-ml-serve"
    parent.mkdir(exist_ok=True)
    for old in parent.iterdir():
        if old.name.isdigit() and not pid_alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    # The launcher's pid is the server's: it execs uvicorn, which keeps it.
    state = parent / str(os.getpid())
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    return state
