"""Metrics: bulk histogram adds equal value-by-value observe; labels stay bounded."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from iris_ml.serving.metrics import (
    ServingMetrics,
    feature_buckets,
    forget_dead_workers,
    observe_many,
    route_label,
)


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def test_bulk_observe_gives_the_exposition_of_one_observe_per_value():
    """Guards observe_many's use of prometheus-client's internals across upgrades."""
    values = np.array([0.1, 0.5, 0.5000001, 1.0, 2.2, 7.9, 19.99, 20.0, 0.5, 3.0])
    bulk, one_by_one = CollectorRegistry(), CollectorRegistry()
    buckets = feature_buckets(20.0)
    observe_many(Histogram("h", "h", buckets=buckets, registry=bulk), values)
    single = Histogram("h", "h", buckets=buckets, registry=one_by_one)
    for value in values:
        single.observe(float(value))

    def lines(registry):
        text = generate_latest(registry).decode()
        return [line for line in text.splitlines() if "_created" not in line]

    assert lines(bulk) == lines(one_by_one)


def test_feature_buckets_are_half_centimetres_up_to_the_contract_maximum():
    assert feature_buckets(10.0)[:3] == (0.5, 1.0, 1.5) and feature_buckets(10.0)[-1] == 10.0


def test_labels_stay_bounded_whatever_is_sent():
    metrics = ServingMetrics()
    for i in range(50):
        metrics.request(f"/attack/{i}", 404, 0.001)
        metrics.request("/invocations", 999, 0.001)
    metrics.refused({("no_such_column", "weird kind"): 3, (None, "too_many_rows"): 60_000})
    metrics.scored(np.array([[5.1, 3.5, 1.4, 0.2]]), ["unheard-of species"])
    text = metrics.render()[0].decode()
    assert 'route="other",status_class="4xx"} 50.0' in text
    assert 'route="/invocations",status_class="other"} 50.0' in text
    assert 'iris_rejected_rows_total{column="none",problem="other"} 3.0' in text
    assert 'iris_rejected_rows_total{column="none",problem="too_many_rows"} 60000.0' in text
    assert 'iris_predictions_total{species="other"} 1.0' in text
    assert route_label("/invocations") == "/invocations"


def test_scored_batches_are_counted_in_bulk_at_the_next_flush_as_one_by_one():
    rng = np.random.default_rng(7)
    batches = [(rng.uniform(0.1, 9.9, (n, 4)), (["setosa", "virginica"] * n)[:n]) for n in (1, 3, 40, 1)]  # fmt: skip
    bulk, single = ServingMetrics(), ServingMetrics()
    for matrix, scored in batches:
        bulk.scored(matrix, scored)
        single.scored(matrix, scored)
        single.flush()  # one batch at a time
    held = generate_latest(bulk.registry).decode()
    assert "iris_rows_scored_total 0.0" in held  # held until the flush
    bulk.flush()

    def lines(metrics, kind):  # sums are added in another order: equal up to rounding
        text = generate_latest(metrics.registry).decode().splitlines()
        return [line for line in text if "_created" not in line and ("_sum " in line) == kind]

    assert lines(bulk, False) == lines(single, False)
    for ours, theirs in zip(lines(bulk, True), lines(single, True), strict=True):
        assert float(ours.split()[1]) == pytest.approx(float(theirs.split()[1]))
    assert "iris_rows_scored_total 45.0" in lines(bulk, False)
    assert 'iris_predictions_total{species="setosa"} 24.0' in lines(bulk, False)


def test_a_flush_thread_brings_held_counts_to_the_registry():
    metrics = ServingMetrics()
    metrics.flush_every(0.01)
    metrics.scored(np.array([[5.1, 3.5, 1.4, 0.2]]), ["setosa"])
    deadline = time.monotonic() + 10
    while "iris_rows_scored_total 1.0" not in generate_latest(metrics.registry).decode():
        assert time.monotonic() < deadline, "the flush thread never ran"
        time.sleep(0.01)


def test_the_served_version_is_one_series_at_one_and_the_last_at_zero():
    metrics = ServingMetrics()
    metrics.serving("3")
    metrics.serving("4")
    text = generate_latest(metrics.registry).decode()
    assert 'iris_model_version_info{version="3"} 0.0' in text
    assert 'iris_model_version_info{version="4"} 1.0' in text


def test_a_dead_workers_live_gauge_is_forgotten_when_a_worker_starts(tmp_path, monkeypatch):
    dead = tmp_path / "gauge_livemax_999999999.db"  # no such pid
    alive = tmp_path / f"gauge_livemax_{os.getpid()}.db"
    counter = tmp_path / "counter_999999999.db"  # counts stay: they are history
    for path in (dead, alive, counter):
        path.write_bytes(b"")
    forget_dead_workers(str(tmp_path))
    assert not dead.exists() and alive.exists() and counter.exists()
