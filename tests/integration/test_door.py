"""The door's limits on a real server: a full queue is a 503, a slow answer a 504, then it serves.

The model is slowed on purpose (tests/slow_scoring_hook) for requests of 1,000 rows or
more, on both routes: MLflow's handler (a CSV body) and the layer's fast path (plain
JSON). The size, encoding and nesting limits are in the hostile corpus, against every
server (test_hostile_corpus.py).
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from iris_ml.contract import FEATURE_NAMES
from iris_ml.processes import wait_until
from tests import procs

pytestmark = pytest.mark.integration

SLOW_HOOK = procs.REPO / "tests" / "slow_scoring_hook"
SLOW_SECONDS = 4
ROWS = [[5.1, 3.5, 1.4, 0.2]] * 4000  # past the layer's inline size: scored in a thread
BIG_JSON = {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": ROWS}}
BIG_CSV = ",".join(FEATURE_NAMES) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS) + "\n"
ONE = {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [[6.3, 3.3, 6.0, 2.5]]}}


@pytest.fixture(scope="module")
def slow_server(trained_store, tmp_path_factory):
    logs = tmp_path_factory.mktemp("door")
    marker = logs / "scoring-started"
    env = {
        "PYTHONPATH": str(SLOW_HOOK),
        "IRIS_TEST_SLOW_SCORING": str(SLOW_SECONDS),
        "IRIS_TEST_SLOW_MARKER": str(marker),
    }
    options = ("--workers", "1", "--timeout", "2", "--max-queue", "1")
    proc, base = procs.serve(trained_store.tracking_uri, logs, *options, env=env)
    try:
        yield base, marker, proc
    finally:
        proc.stop()


def assert_still_serving(base: str) -> None:
    after = httpx.post(base + "/invocations", json=ONE, timeout=30)
    assert after.status_code == 200 and after.json()["predictions"][0]["species"] == "virginica"


@pytest.mark.parametrize(
    ("route", "body"),
    [("fast path", {"json": BIG_JSON}), ("MLflow's handler", {"content": BIG_CSV})],
)
def test_scoring_past_the_timeout_is_a_clean_504(slow_server, route, body):
    base, _, _ = slow_server
    headers = {"X-Request-ID": "slow-1"} | ({} if "json" in body else {"Content-Type": "text/csv"})
    started = time.monotonic()
    response = httpx.post(base + "/invocations", headers=headers, timeout=60, **body)
    assert response.status_code == 504, response.text
    assert time.monotonic() - started < SLOW_SECONDS  # answered at the timeout, not after
    error = response.json()
    assert error["error_code"] == "GATEWAY_TIMEOUT" and error["request_id"] == "slow-1"
    assert "Traceback" not in response.text
    time.sleep(SLOW_SECONDS)  # the abandoned rows finish scoring
    assert_still_serving(base)


def test_a_full_queue_is_a_503_with_retry_after(slow_server):
    base, marker, proc = slow_server
    marker.unlink(missing_ok=True)
    held: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: held.append(httpx.post(base + "/invocations", json=BIG_JSON, timeout=60))
    )
    first.start()
    try:
        wait_until(marker.exists, [proc.popen], 30, "the first request is being scored")
        busy = httpx.post(base + "/invocations", json=ONE, timeout=30)
    finally:
        first.join()
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["message"]
    assert held[0].status_code == 504  # the first one meanwhile reached the 2 s timeout
    time.sleep(SLOW_SECONDS)
    assert_still_serving(base)
