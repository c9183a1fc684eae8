"""The project's server seen from outside: /metrics across workers, request ids, request and
payload logs, against the real launcher (two uvicorn workers) on the trained champion."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from iris_ml.contract import FEATURE_NAMES, TEXTBOOK_FLOWERS
from iris_ml.serving.layer import ACCESS_LOG_FIELDS
from iris_ml.serving.metrics import FLUSH_SECONDS
from tests import procs

pytestmark = pytest.mark.integration

SETOSA, VERSICOLOR, VIRGINICA = (list(values) for values, _ in TEXTBOOK_FLOWERS)


def split(rows: list[list[float]]) -> dict:
    return {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": rows}}


@pytest.fixture(scope="module")
def observed(trained_store, tmp_path_factory):
    """A server of its own (exact counts need one no other test sends to), logging payloads."""
    logs = tmp_path_factory.mktemp("observed")
    payloads = logs / "payloads"
    proc, base = procs.serve(
        trained_store.tracking_uri, logs, "--workers", "2", "--log-requests",
        "--log-payloads", str(payloads),
    )  # fmt: skip
    try:
        yield base, proc, payloads
    finally:
        proc.stop()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if found and found[1] == name:
            got = ",".join(sorted((found[2] or "").split(","))) if found[2] else ""
            if got == wanted:
                return float(found[3])
    return 0.0


def read_payloads(folder: Path, expected: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = [
            json.loads(line)
            for f in sorted(folder.glob("payloads-*.jsonl"))
            for line in f.read_text().splitlines()
        ]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def scrape_when(base: str, name: str, value: float, timeout: float = 10.0) -> str:
    """/metrics once ``name`` shows ``value``: scored rows are added in bulk (FLUSH_SECONDS)."""
    deadline = time.monotonic() + timeout
    while True:
        text = httpx.get(base + "/metrics", timeout=30).text
        if metric(text, name) == value or time.monotonic() > deadline:
            return text
        time.sleep(FLUSH_SECONDS / 2)


def test_metrics_request_ids_and_payloads_add_up_across_two_workers(observed):
    base, proc, payloads = observed
    sent = []  # (request id, rows)

    def one(i: int) -> None:
        rows = [SETOSA] * (i % 3 + 1) + [VIRGINICA] * (i % 2)
        rid = f"load-{i:05d}"
        with httpx.Client(timeout=30) as client:  # a new connection each: both workers answer
            response = client.post(
                base + "/invocations", json=split(rows), headers={"X-Request-ID": rid}
            )
        assert response.status_code == 200 and response.headers["x-request-id"] == rid
        sent.append((rid, rows))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(120)))
    bad = httpx.post(base + "/invocations", json=split([[-1.0, 3.0, 99.0, 1.0]]), timeout=30)
    assert bad.status_code == 400
    setosa = sum(r.count(SETOSA) for _, r in sent)
    virginica = sum(r.count(VIRGINICA) for _, r in sent)
    text = scrape_when(base, "iris_rows_scored_total", setosa + virginica)

    assert metric(text, "iris_requests_total", route="/invocations", status_class="2xx") == 120
    assert metric(text, "iris_requests_total", route="/invocations", status_class="4xx") == 1
    assert metric(text, "iris_rows_scored_total") == setosa + virginica
    assert metric(text, "iris_predictions_total", species="setosa") == setosa
    assert metric(text, "iris_predictions_total", species="virginica") == virginica
    assert metric(text, "iris_predictions_total", species="versicolor") == 0
    assert (
        metric(text, "iris_rejected_rows_total", column="sepal_length", problem="not_positive") == 1
    )
    assert metric(text, "iris_rejected_rows_total", column="petal_length", problem="too_large") == 1
    assert metric(text, "iris_feature_petal_width_cm_bucket", le="0.5") == setosa
    assert metric(text, "iris_request_duration_seconds_count", route="/invocations") == 121
    assert metric(text, "iris_model_version_info", version="1") == 1

    rows = read_payloads(payloads, setosa + virginica)
    assert len(rows) == setosa + virginica
    by_request: dict[str, list[list[float]]] = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append([row[n] for n in FEATURE_NAMES])
    assert by_request == {rid: r for rid, r in sent}  # every row, as sent, under its own id
    assert {row["model_version"] for row in rows} == {"1"}
    assert (
        len({f.name.split("-")[1] for f in payloads.glob("payloads-*.jsonl")}) == 2
    )  # both workers

    access = [json.loads(line) for line in proc.output().splitlines() if line.startswith('{"time"')]
    logged = {a["request_id"]: a for a in access if a["path"] == "/invocations"}
    assert logged["load-00004"]["rows"] == 2 and logged["load-00004"]["status"] == 200
    assert tuple(logged["load-00004"]) == ACCESS_LOG_FIELDS  # nothing of the body


def test_the_servers_log_holds_no_python_warnings(observed):
    # Operators read this log: a warning at every worker start (MLflow's "add type hints to
    # predict" was one) is noise that hides the lines that matter.
    output = observed[1].output()
    assert "Application startup complete." in output and "Warning:" not in output


def test_request_ids_are_echoed_generated_or_replaced(observed):
    base = observed[0]
    body = split([SETOSA])
    echoed = httpx.post(base + "/invocations", json=body, headers={"X-Request-ID": "00123"})
    assert echoed.headers["x-request-id"] == "00123"
    generated = httpx.post(base + "/invocations", json=body)
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    unsafe = httpx.post(
        base + "/invocations", json=split([[0.0, 1, 1, 1]]), headers={"X-Request-ID": "a b<c>"}
    )
    assert unsafe.status_code == 400
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])
    assert unsafe.json()["request_id"] == unsafe.headers["x-request-id"]
    assert httpx.get(base + "/ping").headers["x-request-id"]


def test_an_unwritable_payload_folder_never_fails_a_request(trained_store, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc, base = procs.serve(
        trained_store.tracking_uri, tmp_path, "--workers", "1",
        "--log-payloads", str(blocker / "payloads"),
    )  # fmt: skip
    try:
        for _ in range(5):
            response = httpx.post(base + "/invocations", json=split([SETOSA, VERSICOLOR]))
            assert response.status_code == 200
        deadline = time.monotonic() + 10
        while True:
            text = httpx.get(base + "/metrics").text
            dropped = metric(text, "iris_payload_rows_dropped_total", reason="write_error")
            if dropped == 10 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert dropped == 10
        assert proc.output().count("payload log not written") == 1  # said once, then counted
    finally:
        proc.stop()
