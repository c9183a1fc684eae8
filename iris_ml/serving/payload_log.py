"""Payload logging: what the model was asked and answered, one JSON line per scored row.

Off the request path: a request hands its batch to a bounded queue and returns; a
thread of the worker writes the lines. Each worker writes its own files
(``payloads-<pid>-<n>.jsonl``), so lines of two workers never interleave, and starts
a new file past ``max_file_bytes``; the oldest files go once the folder holds more
than ``max_total_bytes``. A full queue, a full disk or an unwritable folder drops
rows (counted in ``iris_payload_rows_dropped``, logged once) and never fails a request.

Columns (the drift monitor and the Azure data collector use the same): time,
request_id, model_version, the four features, species, and probability_<species>.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

from iris_ml.contract import (
    FEATURE_NAMES,
    PAYLOAD_COLUMNS,
    PROBABILITY_COLUMNS,
    SPECIES_KEY,
)
from iris_ml.number_text import number_texts
from iris_ml.serving.encoding import Scored, fill, json_text, species_texts
from iris_ml.serving.handoff import PayloadLogSettings

_log = logging.getLogger("iris_ml.payloads")
BATCHES_PER_FORMAT = 32  # ~0.3 ms of formatting for one-row requests between GIL hand-overs
COLUMNS = PAYLOAD_COLUMNS


@dataclass(frozen=True)
class Batch:
    at: float
    request_id: str
    model_version: str | None
    matrix: np.ndarray  # the features as scored
    scored: Scored  # what the model answered


class PayloadLog:
    def __init__(
        self, settings: PayloadLogSettings, on_drop: Callable[[str, int], None] | None = None
    ) -> None:
        self.settings = settings
        self._on_drop = on_drop or (lambda reason, rows: None)
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._file_index = 0
        self._out: BinaryIO | None = None  # the file being written, kept open between bursts
        self._written = 0  # bytes in it
        self._path = Path()
        self._said: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> PayloadLog:
        self._thread = threading.Thread(target=self._run, name="payload-log", daemon=True)
        self._thread.start()
        return self

    def sampled(self) -> bool:
        rate = self.settings.sample_rate
        return rate >= 1.0 or (rate > 0 and random.random() < rate)  # noqa: S311  sampling, not secrecy

    def submit(self, batch: Batch) -> None:
        """Queue a batch for writing; drop it (counted) if the queue is full. Never blocks."""
        rows = len(batch.matrix)
        with self._lock:
            if self._queued_rows + rows > self.settings.max_queued_rows:
                full = True
            else:
                full = False
                self._queued_rows += rows
        if full:
            self._drop("queue_full", rows, "the payload log cannot keep up: rows dropped")
            return
        self._queue.put(batch)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
        self._close_file()

    # -- the writer thread -----------------------------------------------------------
    def _run(self) -> None:
        running = True
        while running:
            batches = [self._queue.get()]
            # Gather what else comes within the flush interval: one write and one wake-up for
            # many requests, instead of a thread switch and a file append per request.
            time.sleep(self.settings.flush_interval)
            while True:
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in batches:
                running = False
            self._write_all([b for b in batches if b is not None])

    def _write_all(self, batches: list[Batch]) -> None:
        rows = sum(len(b.matrix) for b in batches)
        with self._lock:
            self._queued_rows -= rows
        if not rows:
            return
        try:
            data = _formatted(batches)
            done = self._file_for(len(data)).write(data) or 0
            self._written += done
            if done < len(data):  # a full disk can take part of a write without an error
                raise OSError(errno.ENOSPC, f"only {done} of {len(data)} bytes written")
        except OSError as exc:  # full disk, folder gone or read-only: never the request's problem
            self._close_file()  # the next burst opens a file afresh
            self._drop("write_error", rows, f"payload log not written: {exc}")
        except Exception as exc:  # a bug here must not kill the thread
            self._drop("write_error", rows, f"payload log failed: {exc!r}")

    def _file_for(self, adding: int) -> BinaryIO:
        """The open file to append ``adding`` bytes to: a new one past the size cap, or
        when the current one was moved or removed (by hand, or by a log shipper) since the
        last burst.
        """
        if self._out is not None:
            full = self._written and self._written + adding > self.settings.max_file_bytes
            if full or self._moved():
                self._close_file()
                self._file_index += 1
        if self._out is None:
            # Opened once per file, not per burst: a mkdir and an open per burst cost ~1% of a
            # one-row request's CPU under load here (py-spy).
            folder = Path(self.settings.folder)
            folder.mkdir(parents=True, exist_ok=True)
            self._path = folder / f"payloads-{os.getpid()}-{self._file_index}.jsonl"
            self._out = self._path.open("ab", buffering=0)  # one write per burst, no buffer
            self._written = self._out.tell()
            if self._file_index:
                self._prune(folder)
        return self._out

    def _moved(self) -> bool:
        """The open file is no longer the one at its path (a stat, not a mkdir and an open)."""
        try:
            at_path = os.stat(self._path)
        except FileNotFoundError:
            return True
        mine = os.fstat(self._out.fileno()) if self._out else None
        return mine is None or (at_path.st_dev, at_path.st_ino) != (mine.st_dev, mine.st_ino)

    def _close_file(self) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            with contextlib.suppress(OSError):  # a failed last flush: its rows are counted
                out.close()

    def _prune(self, folder: Path) -> None:
        mine = sorted(
            folder.glob(f"payloads-{os.getpid()}-*.jsonl"), key=lambda p: p.stat().st_mtime
        )
        total = sum(p.stat().st_size for p in mine)
        for old in mine[:-1]:
            if total <= self.settings.max_total_bytes:
                break
            total -= old.stat().st_size
            old.unlink(missing_ok=True)

    def _drop(self, reason: str, rows: int, message: str) -> None:
        self._on_drop(reason, rows)
        if reason not in self._said:  # once per reason: a full disk must not flood the log
            self._said.add(reason)
            _log.warning("%s (counted in iris_payload_rows_dropped from now on)", message)


def lines(batches: Sequence[Batch]) -> bytes:
    """One JSON line per row of every batch, in COLUMNS order.

    All batches in one formatting call (``scored.py``): each one-row request is a batch,
    and formatting them one by one held the GIL for ~10 ms per burst under load, which
    showed as the p99 of one-row requests.
    """
    if not batches:
        return b""
    heads = np.array([_head(b) for b in batches], dtype=object)
    fields = [f'"{n}": %b' for n in (*FEATURE_NAMES, SPECIES_KEY, *PROBABILITY_COLUMNS)]
    template = b"{%b, " + ", ".join(fields).encode() + b"}"
    cells = np.column_stack(
        [
            np.repeat(heads, [len(b.matrix) for b in batches]),
            number_texts(np.concatenate([b.matrix for b in batches])),
            species_texts([name for b in batches for name in b.scored.species]),
            number_texts(np.concatenate([b.scored.probabilities for b in batches])),
        ]
    )
    return fill(template, cells, b"\n") + b"\n"


def _formatted(batches: Sequence[Batch]) -> bytes:
    """``lines`` of many batches, a few at a time, handing the GIL over between them.

    Without the hand-over a request waits for the whole burst (up to Python's 5 ms
    switch interval): the p99 of one-row requests rose from ~1 ms to ~6 ms here.
    """
    parts = []
    for start in range(0, len(batches), BATCHES_PER_FORMAT):
        parts.append(lines(batches[start : start + BATCHES_PER_FORMAT]))
        time.sleep(0)  # lets a waiting request thread run now
    return b"".join(parts)


def _head(batch: Batch) -> bytes:
    """The batch's own fields as JSON object members: time, request id, model version."""
    stamp = datetime.fromtimestamp(batch.at, UTC).isoformat(timespec="milliseconds")
    fields = {"time": stamp, "request_id": batch.request_id, "model_version": batch.model_version}
    return json_text(fields)[1:-1]
