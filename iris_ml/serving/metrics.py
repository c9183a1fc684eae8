"""The serving layer's Prometheus metrics (``GET /metrics``), correct across uvicorn workers.

prometheus-client's multiprocess mode: each worker writes its values to files in
``$PROMETHEUS_MULTIPROC_DIR`` (set by the launcher before any worker starts, since the
library reads it at import), and ``/metrics`` on any worker adds up every worker's files.
https://prometheus.github.io/client_python/multiprocess/

Every label takes its values from a fixed set (routes we serve, status classes, the
contract's species, columns and problem kinds), so the series stay bounded whatever the
traffic. The one open label, the served model version, changes only when the champion does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iris_ml.contract import FEATURE_NAMES, FEATURES, PROBLEM_KINDS, SPECIES
from iris_ml.serving import oip
from iris_ml.serving.handoff import MULTIPROC_ENV

if TYPE_CHECKING:  # prometheus-client is imported where it is used: no import-time registry
    from prometheus_client import CollectorRegistry, Histogram

ROUTES = ("/invocations", "/ping", "/health", "/version", "/metrics", "/openapi.json", "/docs")
OTHER = "other"
# Requests take ~1 ms for one row and ~100 ms for 10,000; the tail goes to the timeout (60 s).
# Scored rows, species and feature values reach /metrics this late at most (a scrape every
# 15 s or more never sees it); requests, latency and refusals are counted as they happen.
FLUSH_SECONDS = 0.25
_log = logging.getLogger("iris_ml.serving")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def feature_buckets(maximum: float) -> tuple[float, ...]:
    """Half-centimetre bins over the valid range: fine enough to see Fisher's three clusters."""
    return tuple(round(0.5 * i, 1) for i in range(1, int(maximum / 0.5) + 1))


def route_label(path: str) -> str:
    if path in ROUTES:
        return path
    found = oip.route(path) if oip.is_oip(path) else None
    return found.label if found is not None else OTHER


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else OTHER


class ServingMetrics:
    """The metrics of one worker. Nothing is registered globally (no import-time side effects)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "iris_requests", "HTTP requests answered", ["route", "status_class"], registry=r
        )
        self.latency = Histogram(
            "iris_request_duration_seconds", "Time to answer a request", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.rows = Counter("iris_rows_scored", "Rows scored", registry=r)
        self.predictions = Counter(
            "iris_predictions", "Predictions by species", ["species"], registry=r
        )
        self.rejected = Counter(
            "iris_rejected_rows", "Rows refused, by column and kind of problem",
            ["column", "problem"], registry=r,
        )  # fmt: skip
        self.features = {f.name: _feature_histogram(f.name, f.maximum, r) for f in FEATURES}
        self.model_version = Gauge(
            "iris_model_version_info", "1 for the model version a worker serves", ["version"],
            multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self.payload_dropped = Counter(
            "iris_payload_rows_dropped", "Payload-log rows not written", ["reason"], registry=r
        )
        self._version: str | None = None
        self._pending: list[tuple[np.ndarray, Sequence[str]]] = []
        self._pending_lock = threading.Lock()
        if folder := os.environ.get(MULTIPROC_ENV):
            forget_dead_workers(folder)

    def request(self, path: str, status: int, seconds: float) -> None:
        route = route_label(path)
        self.requests.labels(route, status_class(status)).inc()
        self.latency.labels(route).observe(seconds)

    def serving(self, version: str | None) -> None:
        """Say which version this worker serves (cheap when unchanged: called per request)."""
        if version == self._version:
            return
        if self._version is not None:
            self.model_version.labels(self._version).set(0)
        if version is not None:
            self.model_version.labels(version).set(1)
        self._version = version

    def scored(self, matrix: np.ndarray, species: Sequence[str]) -> None:
        """Hold a scored batch for the next ``flush``: a list append on the request path.

        Counting each one-row request on its own (rows, species, four histograms) cost 2-3%
        of its CPU under load (py-spy); in bulk, a burst of requests costs about one.
        """
        with self._pending_lock:
            self._pending.append((matrix, species))

    def flush(self) -> None:
        """Add the held batches to the counters: rows, species, each feature's values."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        matrix = pending[0][0] if len(pending) == 1 else np.concatenate([m for m, _ in pending])
        self.rows.inc(len(matrix))
        counts = Counter(name for _, species in pending for name in species)
        for name, count in counts.items():
            self.predictions.labels(name if name in SPECIES else OTHER).inc(count)
        for column, name in enumerate(FEATURE_NAMES):
            observe_many(self.features[name], matrix[:, column])

    def flush_every(self, seconds: float = FLUSH_SECONDS) -> None:
        """Flush from a thread of this worker, so every worker's counts reach ``/metrics``."""

        def run() -> None:
            while True:
                time.sleep(seconds)
                try:
                    self.flush()
                except Exception as exc:  # counting must never stop: say so, go on
                    _log.warning("could not update the metrics: %r", exc)

        threading.Thread(target=run, name="metrics-flush", daemon=True).start()

    def refused(self, problems: Mapping[tuple[str | None, str], int]) -> None:
        for (column, kind), rows in problems.items():
            self.rejected.labels(
                column if column in FEATURE_NAMES else "none",
                kind if kind in PROBLEM_KINDS else OTHER,
            ).inc(rows)

    def render(self) -> tuple[bytes, str]:
        """The exposition of every worker (multiprocess) or of this one."""
        self.flush()  # this worker's own counts are exact; the others' are at most a flush late
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = self.registry
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def _feature_histogram(name: str, maximum: float, registry: CollectorRegistry) -> Histogram:
    from prometheus_client import Histogram

    return Histogram(
        f"iris_feature_{name}_cm", f"Scored values of {name} (cm)",
        buckets=feature_buckets(maximum), registry=registry,
    )  # fmt: skip


def forget_dead_workers(folder: str) -> None:
    """Drop the live gauges of workers that died (uvicorn restarts a crashed worker under a
    new pid; without this the dead one's ``iris_model_version_info`` would count forever)."""
    from prometheus_client import multiprocess

    from iris_ml.processes import pid_alive

    for path in Path(folder).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), folder)


def observe_many(histogram: object, values: np.ndarray) -> None:
    """``histogram.observe(v)`` for every value, as ~20 increments instead of one per value.

    prometheus-client has no bulk observe, and 10,000 rows x 4 features one by one cost more
    than scoring them. A Histogram keeps one non-cumulative counter per bucket plus a sum;
    this adds to them directly. tests/unit/test_serving_metrics.py checks the exposition
    equals value-by-value ``observe``, so a change of those internals fails a test.
    """
    if len(values) <= 16:  # numpy's set-up costs more than a few observes
        for value in values.tolist():
            histogram.observe(value)  # type: ignore[attr-defined]
        return
    bounds = np.asarray(histogram._upper_bounds)  # type: ignore[attr-defined]
    # side="left": a value equal to a bound falls in that bucket (Prometheus's `le`).
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    histogram._sum.inc(float(values.sum()))  # type: ignore[attr-defined]
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=False):  # type: ignore[attr-defined]
        if count:
            bucket.inc(count)
