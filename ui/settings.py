"""The page's settings and their defaults, defined once (the CLI and the tests read them here)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_SCORING_URI = "http://127.0.0.1:5001/invocations"
# Several people at once: requests to the endpoint are I/O-bound, so the queue
# runs a few handlers in parallel and holds a bounded backlog.
DEFAULT_CONCURRENCY = 8
MAX_QUEUE = 64


@dataclass(frozen=True)
class UISettings:
    scoring_uri: str = DEFAULT_SCORING_URI
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    concurrency: int = DEFAULT_CONCURRENCY
