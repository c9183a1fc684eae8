"""What the serving layer refuses before any model code runs, each with its own status.

* a body over the size limit: 413, from its ``Content-Length`` before a byte is read,
  or as soon as a chunked body passes the limit (the rest is never read);
* a ``Content-Encoding`` the server does not decode (it decodes none): 415;
* more scoring requests in one worker than its queue holds: 503 with ``Retry-After``.

The layer (``layer.py``) turns each ``Refusal`` into its one-line JSON error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from iris_ml.contract import RowError

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
RETRY_AFTER_SECONDS = 1  # a full queue drains in well under a second at the bench's rates
_IDENTITY = ("", "identity")


@dataclass(frozen=True)
class Refusal:
    """An answer the layer gives before MLflow's handler runs."""

    status: int
    message: str
    error_code: str | None = None  # None: the status's name
    problems: tuple[RowError, ...] = ()  # every refused cell, for the metrics
    headers: tuple[tuple[bytes, bytes], ...] = ()  # Retry-After, WWW-Authenticate


def too_big(limit: int) -> Refusal:
    return Refusal(413, f"the body is over the server's limit of {_size(limit)}: send fewer rows")


def _size(limit: int) -> str:
    mib = limit / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{limit} bytes"


def head_refusal(headers: Mapping[bytes, bytes], max_body_bytes: int) -> Refusal | None:
    """A refusal the request's headers alone decide: its encoding, its declared size."""
    encoding = headers.get(b"content-encoding", b"").decode("latin-1").strip().lower()
    if encoding not in _IDENTITY:
        return Refusal(
            415,
            f"Content-Encoding {encoding!r} is not decoded here: send the body uncompressed",
        )
    declared = headers.get(b"content-length", b"").strip()
    if declared.isdigit() and int(declared) > max_body_bytes:
        return too_big(max_body_bytes)
    return None


async def read_body(receive: Receive, limit: int) -> bytes | Refusal | None:
    """The request's body; a 413 once it passes ``limit``; None if the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return too_big(limit)  # the rest stays unread: uvicorn closes the connection
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Admission:
    """How many scoring requests one worker holds at once; past ``capacity``, a 503."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.pending = 0

    def enter(self) -> Refusal | None:
        if self.pending >= self.capacity:
            return Refusal(
                503,
                f"the server is busy ({self.capacity} requests waiting in this worker):"
                f" retry after {RETRY_AFTER_SECONDS} s",
                headers=((b"retry-after", b"%d" % RETRY_AFTER_SECONDS),),
            )
        self.pending += 1
        return None

    def leave(self) -> None:
        self.pending -= 1
