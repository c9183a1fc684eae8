import json
import random
import threading

import httpx
import pandas as pd
import pytest

from score_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidInputError,
    IrisFeatures,
    ModelError,
    NotFoundError,
    RateLimitError,
    RequestTooLargeError,
    ScoringClient,
    UnexpectedResponseError,
    _retry,
)
from score_client._backends import detect_backend, error_message, redact_url

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SECRET = "sk-test-NOT-A-REAL-KEY-0123456789abcdef"  # pragma: allowlist secret


def prediction(species="setosa", version=None):
    row = {
        "species": species,
        "probabilities": {"setosa": 0.9, "versicolor": 0.05, "virginica": 0.05},
    }
    if version:
        row["model_version"] = version
    return row


def echo_handler(requests, *, bare_list=False, version="3"):
    """A fake server that answers one prediction per row sent and records each request."""

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        body = json.loads(request.content)
        table = body.get("dataframe_split") or body.get("input_data")
        preds = [prediction(version=version) for _ in table["data"]]
        # Tag each prediction with the first feature so order can be checked.
        for p, row in zip(preds, table["data"], strict=True):
            p["probabilities"] = {
                "setosa": row[0] / 100,
                "versicolor": 0.0,
                "virginica": 1 - row[0] / 100,
            }
        return httpx.Response(200, json=preds if bare_list else {"predictions": preds})

    return handler


def make_client(handler, url="http://127.0.0.1:5001", **kwargs):
    sleeps = []
    client = ScoringClient(
        url,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=sleeps.append,
        **kwargs,
    )
    return client, sleeps


def test_mlflow_payload_shape_and_url():
    seen = []
    client, _ = make_client(echo_handler(seen))
    [p] = client.predict([ROW])
    assert str(seen[0].url) == "http://127.0.0.1:5001/invocations"
    assert json.loads(seen[0].content) == {
        "dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}
    }
    assert seen[0].headers["content-type"] == "application/json"
    assert "authorization" not in seen[0].headers
    assert p.species == "setosa" and p.model_version == "3"


def test_azure_payload_headers_and_bare_list_response():
    seen = []
    url = "https://iris-ep.westeurope.inference.ml.azure.com/score"
    client, _ = make_client(
        echo_handler(seen, bare_list=True, version=None), url, api_key=SECRET, deployment="green"
    )
    [p] = client.predict([IrisFeatures(**ROW)])
    body = json.loads(seen[0].content)
    assert body == {
        "input_data": {"columns": list(ROW), "index": [0], "data": [list(ROW.values())]}
    }
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert seen[0].headers["azureml-model-deployment"] == "green"
    assert str(seen[0].url) == url and p.model_version is None


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("http://127.0.0.1:5001", "mlflow"),
        ("http://localhost:5001/invocations", "mlflow"),
        ("http://127.0.0.1:31311/score", "azureml"),
        ("https://ep.eastus2.inference.ml.azure.com/score", "azureml"),
    ],
)
def test_backend_detection(url, backend):
    assert detect_backend(url).name == backend


def test_accepts_dataframes_and_features_alike():
    seen = []
    client, _ = make_client(echo_handler(seen))
    df = pd.DataFrame([ROW, ROW])
    assert len(client.predict(df)) == 2
    assert json.loads(seen[0].content)["dataframe_split"]["data"] == [list(ROW.values())] * 2


def test_invalid_rows_fail_before_sending():
    seen = []
    client, _ = make_client(echo_handler(seen))
    with pytest.raises(InvalidInputError) as info:
        client.predict([ROW, {**ROW, "petal_width": float("nan")}, {**ROW, "sepal_length": True}])
    assert [(e.row, e.column) for e in info.value.errors] == [
        (1, "petal_width"),
        (2, "sepal_length"),
    ]
    assert seen == []
    with pytest.raises(InvalidInputError, match="no rows"):
        client.predict([])


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (413, RequestTooLargeError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_status_codes_map_to_classes(status, cls):
    client, _ = make_client(
        lambda r: httpx.Response(status, json={"error_code": "X", "message": "nope"}), max_retries=0
    )
    with pytest.raises(cls) as info:
        client.predict([ROW])
    assert info.value.status_code == status and info.value.message == "nope"
    assert info.value.row_range == (0, 1)


def test_a_refusal_carries_the_request_id_the_server_answered_with():
    headers = {"x-request-id": "order-00123"}
    client, _ = make_client(
        lambda r: httpx.Response(400, json={"message": "no"}, headers=headers), max_retries=0
    )
    with pytest.raises(BadRequestError) as info:
        client.predict([ROW])
    assert info.value.request_id == "order-00123"
    bare, _ = make_client(lambda r: httpx.Response(500, text="down"), max_retries=0)
    with pytest.raises(InternalServerError) as info:
        bare.predict([ROW])
    assert info.value.request_id is None


def test_bad_request_surfaces_the_servers_own_reason_not_the_echoed_input():
    message = "Failed to predict data '   sepal_width\\n0 3.3'. \nError: Model is missing inputs ['sepal_length']."
    client, _ = make_client(lambda r: httpx.Response(400, json={"message": message}))
    with pytest.raises(BadRequestError) as info:
        client.predict([ROW])
    assert info.value.message == "Model is missing inputs ['sepal_length']."


def test_azure_424_carries_the_models_status_and_reason():
    headers = {
        "ms-azureml-model-error-statuscode": "400",
        "ms-azureml-model-error-reason": "model_error",
    }
    client, _ = make_client(
        lambda r: httpx.Response(424, text="upstream", headers=headers), max_retries=0
    )
    with pytest.raises(ModelError) as info:
        client.predict([ROW])
    assert info.value.model_status_code == 400 and info.value.model_reason == "model_error"
    assert "model answered 400" in str(info.value)


def test_connection_errors_and_timeouts_are_translated():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    client, sleeps = make_client(refuse)
    with pytest.raises(APIConnectionError) as info:
        client.predict([ROW])
    assert not isinstance(info.value, APITimeoutError)
    assert len(sleeps) == 2  # retried twice, then gave up
    # No httpx type leaks out, not even as a chained cause.
    assert not isinstance(info.value.__cause__ or info.value.__context__, httpx.HTTPError)
    client, _ = make_client(slow, max_retries=0)
    with pytest.raises(APITimeoutError):
        client.predict([ROW])


def test_unexpected_bodies_are_reported():
    for body in (
        {"predictions": []},
        {"nope": 1},
        {"predictions": [{"species": "rose", "probabilities": {}}]},
    ):
        client, _ = make_client(lambda r, b=body: httpx.Response(200, json=b))
        with pytest.raises(UnexpectedResponseError):
            client.predict([ROW])


def test_retries_5xx_then_succeeds_with_backoff():
    calls = []

    def flaky(request):
        calls.append(1)
        if len(calls) < 3:
            return httpx.Response(503, text="busy")
        return echo_handler([])(request)

    client, sleeps = make_client(flaky, max_retries=3)
    assert client.predict([ROW])[0].species == "setosa"
    assert len(calls) == 3
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


def test_honours_retry_after_and_never_retries_other_4xx():
    calls = []

    def limited(request):
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "3"}, text="slow down")
        return echo_handler([])(request)

    client, sleeps = make_client(limited)
    client.predict([ROW])
    assert sleeps == [3.0]
    calls.clear()
    client, sleeps = make_client(lambda r: (calls.append(1), httpx.Response(422, text="no"))[1])
    with pytest.raises(APIStatusError) as info:
        client.predict([ROW])
    assert info.value.status_code == 422 and len(calls) == 1 and sleeps == []


def test_retry_budget_bounds_the_total_wait():
    client, sleeps = make_client(
        lambda r: httpx.Response(503, headers={"Retry-After": "50"}), max_retries=5, retry_budget=10
    )
    with pytest.raises(InternalServerError):
        client.predict([ROW])
    assert sleeps == []


def test_a_server_asking_for_a_long_wait_gets_its_error_at_once():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, headers={"Retry-After": "3600"})

    client, sleeps = make_client(handler, max_retries=5, retry_budget=7200)
    with pytest.raises(InternalServerError):
        client.predict([ROW])
    assert len(calls) == 1 and sleeps == []


def test_retry_policy_decisions():
    assert _retry.should_retry(None, 0, 2)
    assert _retry.should_retry(408, 1, 2) and _retry.should_retry(429, 0, 2)
    assert not _retry.should_retry(503, 2, 2)
    assert not any(_retry.should_retry(s, 0, 2) for s in (400, 401, 403, 404, 413, 422, 424))
    assert _retry.parse_retry_after("2.5") == 2.5
    assert _retry.parse_retry_after("garbage") is None
    assert _retry.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry.parse_retry_after("100000") == 100000.0
    assert not _retry.should_retry(503, 0, 2, retry_after=_retry.MAX_RETRY_AFTER + 1)
    assert _retry.should_retry(503, 0, 2, retry_after=_retry.MAX_RETRY_AFTER)
    delays = [_retry.retry_delay(a, None, random.Random(a)) for a in range(6)]
    assert all(0.75 * min(8, 0.5 * 2**a) <= d <= min(8, 0.5 * 2**a) for a, d in enumerate(delays))


def test_chunks_are_sent_concurrently_and_reassembled_in_order():
    seen = []
    lock = threading.Lock()
    in_flight = {"now": 0, "max": 0}
    handler = echo_handler(seen)

    def counting(request):
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            return handler(request)
        finally:
            with lock:
                in_flight["now"] -= 1

    rows = [{**ROW, "sepal_length": 1 + i / 10} for i in range(95)]
    progress = []
    client, _ = make_client(counting, chunk_size=10, concurrency=3)
    preds = client.predict(rows, on_progress=lambda done, total: progress.append((done, total)))
    assert len(seen) == 10
    assert [round(p.probabilities["setosa"] * 100, 6) for p in preds] == [
        r["sepal_length"] for r in rows
    ]
    assert progress[-1] == (95, 95) and in_flight["max"] <= 3


def test_a_failing_chunk_names_its_row_range():
    def handler(request):
        data = json.loads(request.content)["dataframe_split"]["data"]
        if data[0][0] >= 3:
            return httpx.Response(400, json={"message": "bad chunk"})
        return echo_handler([])(request)

    rows = [{**ROW, "sepal_length": 1 + i / 10} for i in range(30)]
    client, _ = make_client(handler, chunk_size=10, concurrency=1)
    with pytest.raises(BadRequestError) as info:
        client.predict(rows)
    assert info.value.row_range == (20, 30) and "rows 20-29" in str(info.value)


def test_the_key_never_appears_in_repr_errors_or_settings(monkeypatch):
    monkeypatch.setenv("SCORING_KEY", SECRET)
    client, _ = make_client(
        lambda r: httpx.Response(401, json={"message": "bad key"}),
        "https://u:pw@x.inference.ml.azure.com/score?k=1",  # pragma: allowlist secret
    )
    assert client.settings.api_key == SECRET
    texts = [repr(client), repr(client.settings), client.url]
    with pytest.raises(AuthenticationError) as info:
        client.predict([ROW])
    texts += [str(info.value), repr(info.value)]
    for text in texts:
        assert SECRET not in text and "pw" not in text and "k=1" not in text


def test_url_comes_from_argument_then_environment(monkeypatch):
    monkeypatch.setenv("SCORING_URI", "http://127.0.0.1:9/score")
    assert ScoringClient().settings.backend.name == "azureml"
    assert ScoringClient("http://127.0.0.1:8").settings.url == "http://127.0.0.1:8/invocations"
    monkeypatch.delenv("SCORING_URI")
    with pytest.raises(ValueError, match="SCORING_URI"):
        ScoringClient()
    with pytest.raises(ValueError, match="not an http"):
        ScoringClient("ftp://x")


def test_health_reports_version_or_error():
    client, _ = make_client(echo_handler([], version="4"))
    health = client.health()
    assert health.ok and health.model_version == "4" and health.latency_ms is not None
    client, _ = make_client(lambda r: httpx.Response(404, text="not here"), max_retries=0)
    health = client.health()
    assert not health.ok and "404" in health.error


def test_error_message_reads_json_and_text():
    assert error_message(b'{"message": "x"}', "application/json") == "x"
    assert error_message(b"plain", "text/plain") == "plain"
    assert error_message(b"", "text/plain") == "(empty response body)"
    assert redact_url("https://a:b@h:1/p?q=secret") == "https://h:1/p"


def test_score_blocks_answers_in_block_order_and_pulls_blocks_only_as_room_frees():
    seen = []
    client, _ = make_client(echo_handler(seen), concurrency=2)
    pulled = []

    def blocks():  # a reader of some other source: the first value tags each row
        for start in range(0, 50, 10):
            pulled.append(start)
            yield [[float(start + i + 1), 3.0, 1.4, 0.2] for i in range(10)], (start, start + 10)

    answers = client.score_blocks(blocks())
    first = next(answers)
    assert len(pulled) == 3  # two in flight, one queued: never the whole source
    rest = list(answers)
    tags = [
        round(float(p["probabilities"]["setosa"]) * 100) for block in [first, *rest] for p in block
    ]
    assert tags == list(range(1, 51)) and len(seen) == 5
