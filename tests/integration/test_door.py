"""The door on a real server: a full queue is a 503, a slow answer a 504, a missing key a 401.

The model is slowed on purpose (tests/slow_scoring_hook) for requests of 1,000 rows or
more, on both routes: MLflow's handler (a CSV body) and the layer's fast path (plain
JSON); and so is the worker's first load of MLflow's handler, which it builds on the
first request that needs it. The size, encoding and nesting limits are in the hostile corpus, against every
server (test_hostile_corpus.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
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
LOAD_SECONDS = 3  # added to MLflow's own load: past the 2 s timeout on any machine
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
        "IRIS_TEST_SLOW_LOAD": str(LOAD_SECONDS),
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


def post_one_csv(base: str) -> httpx.Response:
    one_csv = ",".join(FEATURE_NAMES) + "\n6.3,3.3,6.0,2.5\n"
    headers = {"Content-Type": "text/csv", "X-Request-ID": "cold-1"}
    return httpx.post(base + "/invocations", content=one_csv, headers=headers, timeout=30)


def test_a_cold_load_past_the_timeout_is_a_503_and_the_fast_path_keeps_answering(slow_server):
    base, _, _ = slow_server
    started = time.monotonic()
    cold = post_one_csv(base)  # the first request for MLflow's handler: it starts loading
    assert cold.status_code == 503, cold.text
    assert time.monotonic() - started < LOAD_SECONDS  # answered at the 2 s timeout
    assert cold.headers["retry-after"] == "5" and cold.json()["request_id"] == "cold-1"
    assert "loading" in cold.json()["message"]
    assert_still_serving(base)  # plain JSON meanwhile, on the same one worker
    wait_until(lambda: post_one_csv(base).status_code == 200, [], 60, "MLflow's handler loaded")
    warm = post_one_csv(base)
    assert warm.json()["predictions"][0]["species"] == "virginica"


@pytest.mark.parametrize(
    ("route", "body"),
    [("fast path", {"json": BIG_JSON}), ("MLflow's handler", {"content": BIG_CSV})],
)
def test_scoring_past_the_timeout_is_a_clean_504(slow_server, route, body):
    base, _, _ = slow_server
    wait_until(lambda: post_one_csv(base).status_code == 200, [], 60, "MLflow's handler loaded")
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


KEYS = ("first-key-0123456789abcdef", "next-key-0123456789abcdef")  # test keys, not secrets


@pytest.fixture(scope="module")
def keyed_server(trained_store, tmp_path_factory):
    logs = tmp_path_factory.mktemp("keyed")
    key_file = logs / "serving-keys"
    key_file.write_text("# the current key, then the next one\n" + "\n".join(KEYS) + "\n")
    options = ("--workers", "1", "--key-file", str(key_file), "--log-requests")
    proc, base = procs.serve(trained_store.tracking_uri, logs, *options)
    try:
        yield base, proc
    finally:
        proc.stop()


def test_a_keyed_server_answers_401_without_the_key_and_200_with_either(keyed_server):
    base, proc = keyed_server
    routes = ("/invocations", "POST"), ("/metrics", "GET"), ("/version", "GET"), ("/v2", "GET")
    for path, method in (*routes, ("/openapi.json", "GET"), ("/docs", "GET")):
        refused = httpx.request(method, base + path, json=ONE, timeout=30)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.headers["www-authenticate"] == 'Bearer realm="iris-ml"'
    wrong = httpx.post(base + "/invocations", json=ONE, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["www-authenticate"]
    for key in KEYS:
        bearer = {"Authorization": f"Bearer {key}"}
        answer = httpx.post(base + "/invocations", json=ONE, headers=bearer, timeout=30)
        assert answer.json()["predictions"][0]["species"] == "virginica"
        assert httpx.get(base + "/metrics", headers=bearer).status_code == 200
    for probe in ("/ping", "/health"):  # what a liveness or readiness probe asks, keyless
        assert httpx.get(base + probe, timeout=30).status_code == 200
    assert "key auth on" in proc.output()
    assert not any(key in proc.output() for key in KEYS)  # neither logged nor echoed


def test_score_client_sends_the_key_from_its_variable(keyed_server, tmp_path):
    base, _ = keyed_server
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([dict(zip(FEATURE_NAMES, [6.3, 3.3, 6.0, 2.5], strict=True))]))
    command = [sys.executable, "-m", "score_client", "--url", base, "predict", "--json", str(rows)]
    keyed = subprocess.run(
        command, env=procs.base_env(SCORING_KEY=KEYS[1]), capture_output=True, text=True
    )
    assert keyed.returncode == 0 and "virginica" in keyed.stdout, keyed.stderr
    keyless = subprocess.run(command, env=procs.base_env(), capture_output=True, text=True)
    assert keyless.returncode == 4 and "check SCORING_KEY" in keyless.stderr
    assert "Traceback" not in keyless.stderr


def test_a_network_address_without_a_key_refuses_to_start(trained_store, tmp_path):
    command = [sys.executable, "-m", "iris_ml", "serve", "--host", "0.0.0.0", "--port", "9"]
    env = procs.base_env(trained_store.tracking_uri)
    env.pop("SERVING_KEY", None)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--allow-unauthenticated" in result.stderr
