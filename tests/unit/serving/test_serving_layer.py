"""The serving layer in front of an ASGI app that answers as MLflow's does (no server here).

The integration tests run the real thing (tests/integration/test_observability.py); here
each rule of the layer is pinned against the exact answers MLflow 3.15's handler gives
(copied from mlflow/pyfunc/scoring_server/__init__.py's paths: `_handle_serving_error`
bodies with `stack_trace`, plain-text 415s, Starlette's 500 then re-raise).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

import httpx
import pytest

from iris_ml.contract import nested_too_deep
from iris_ml.serving.handoff import Limits
from iris_ml.serving.layer import (
    ACCESS_LOG_FIELDS,
    ServingLayer,
    clean_message,
    csv_cell_problems,
    id_generator,
    refusal,
    request_id,
)
from iris_ml.serving.metrics import ServingMetrics

STACK = 'Traceback (most recent call last):\n  File "/venv/lib/python3.11/site-packages/mlflow/x.py", line 3\nValueError: boom\n'
CSV_FAILED = {
    "error_code": "BAD_REQUEST",
    "message": "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
    "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. "
    "Error: 'could not convert string to float: '=1+1''",
    "stack_trace": STACK,
}


def mlflow_like_app(status: int, body: bytes, content_type: str = "application/json", boom=False):
    seen = {}

    async def app(scope, receive, send):
        message = await receive()
        seen["body"] = message.get("body", b"")
        if boom:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise RuntimeError("/secret/path/model.py exploded")
        headers = [(b"content-type", content_type.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app, seen


def call(layer, content=b"{}", headers=None, path="/invocations", method="POST"):
    async def go():
        transport = httpx.ASGITransport(app=layer)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, content=content, headers=headers or {})

    return asyncio.run(go())


JSON = {"Content-Type": "application/json"}


@pytest.fixture
def metrics(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return ServingMetrics()


def test_success_passes_through_untouched_with_the_callers_request_id(metrics):
    answer = b'{"predictions": [{"species": "setosa"}]}'
    app, seen = mlflow_like_app(200, answer)
    layer = ServingLayer(app, lambda: "3", metrics)
    response = call(layer, b'{"inputs": 1}', {**JSON, "X-Request-ID": "order-00123"})
    assert response.content == answer and response.status_code == 200
    assert response.headers["x-request-id"] == "order-00123"
    assert seen["body"] == b'{"inputs": 1}'  # the app got the body the layer read


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("00123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("<script>", False),
        ("line\nbreak", False),
        ("", False),
    ],
)
def test_request_ids_are_echoed_only_when_short_and_safe(given, kept):
    found = request_id({b"x-request-id": given.encode()}, id_generator())
    assert (found == given) == kept
    assert len(found) <= 128


def test_a_request_id_is_generated_when_absent_and_azures_header_is_read():
    new_id = id_generator()
    generated = {request_id({}, new_id) for _ in range(3)}
    assert len(generated) == 3 and all(re.fullmatch("[0-9a-f]{32}", g) for g in generated)
    assert request_id({b"x-ms-client-request-id": b"az-7"}, new_id) == "az-7"


def test_two_workers_never_generate_the_same_id():
    first, second = id_generator(), id_generator()  # one per worker (or per restart)
    assert {first() for _ in range(1000)}.isdisjoint({second() for _ in range(1000)})


def test_mlflows_stack_trace_never_reaches_the_caller_and_a_csv_cell_is_named(metrics):
    app, _ = mlflow_like_app(400, json.dumps(CSV_FAILED).encode())
    layer = ServingLayer(app, lambda: "3", metrics)
    body = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n=1+1,3,4,1\n"
    response = call(layer, body, {"Content-Type": "text/csv", "X-Request-ID": "r1"})
    error = response.json()
    assert response.status_code == 400 and "stack_trace" not in error
    assert error == {
        "error_code": "BAD_REQUEST",
        "message": "Invalid input: line 3, column 'sepal_length': expected a number in cm, "
        "got '=1+1'",
        "request_id": "r1",
    }


def test_plain_text_errors_become_json_with_the_same_words(metrics):
    app, _ = mlflow_like_app(415, b"The scoring server only supports UTF-8", "text/plain")
    response = call(ServingLayer(app, lambda: None, metrics), b"{}", JSON)
    assert response.status_code == 415
    assert response.json()["message"] == "The scoring server only supports UTF-8"
    assert response.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_an_unhandled_error_is_a_json_500_without_its_path(metrics, caplog):
    app, _ = mlflow_like_app(0, b"", boom=True)
    response = call(ServingLayer(app, lambda: None, metrics), b"{}", {**JSON, "X-Request-ID": "r9"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "r9" and "/secret" not in response.text
    assert "r9" in caplog.text  # the log has it, with the traceback, for whoever runs the server


def test_what_mlflow_would_answer_with_a_500_is_refused_before_it_runs(metrics):
    app, seen = mlflow_like_app(200, b"{}")
    layer = ServingLayer(app, lambda: None, metrics)
    no_type = call(layer, b"{}", {"Content-Type": ""})
    assert no_type.status_code == 415 and "Content-Type is missing" in no_type.json()["message"]
    latin = call(layer, '{"a": "é"}'.encode("latin-1"), JSON)
    assert latin.status_code == 400 and "not UTF-8" in latin.json()["message"]
    assert "body" not in seen  # the app never ran


def test_json_booleans_are_refused_naming_the_cell_and_counted(metrics):
    app, seen = mlflow_like_app(200, b"{}")
    layer = ServingLayer(app, lambda: None, metrics)
    rows = [{"sepal_length": 5.1, "sepal_width": True, "petal_length": 1.4, "petal_width": False}]
    response = call(layer, json.dumps({"dataframe_records": rows * 2}).encode(), JSON)
    assert response.status_code == 400 and "body" not in seen
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert response.json()["message"].startswith(
        "Invalid input: row 0, column 'sepal_width': expected a number in cm, got True; "
        "row 0, column 'petal_width'"
    )
    text = call(layer, path="/metrics", method="GET").text
    assert 'iris_rejected_rows_total{column="sepal_width",problem="not_a_number"} 2.0' in text
    # The word in a string, or a boolean outside the features, reaches MLflow's handler.
    for body in ('{"dataframe_records": [{"note": "true"}]}', '{"inputs": {"flag": true}}'):
        assert call(layer, body.encode(), JSON).status_code == 200


def test_a_column_name_that_is_not_a_string_is_refused_before_mlflows_parser_fails_on_it(metrics):
    app, seen = mlflow_like_app(200, b"{}")
    layer = ServingLayer(app, lambda: None, metrics)
    for name, kind in (({}, "an object"), (["a"], "a list"), (None, "null")):
        columns = [name, "sepal_width", "petal_length", "petal_width"]
        body = json.dumps({"dataframe_split": {"columns": columns, "data": [[1, 2, 3, 4]]}})
        response = call(layer, body.encode(), JSON)
        assert response.status_code == 400 and "body" not in seen
        assert response.json()["message"] == (
            f"Invalid input: dataframe_split.columns[0] is {kind}, not a column name"
        )


def test_refusal_leaves_other_charsets_and_parquet_to_mlflow():
    assert refusal({b"content-type": b"application/json; charset=latin-1"}, b"\xe9") is None
    assert refusal({b"content-type": b"application/x-parquet"}, b"\xff\xfe") is None
    assert refusal({b"content-type": b"text/csv"}, b"a,b\n1,2\n") is None


def test_messages_lose_tracebacks_paths_and_mlflows_echo_of_the_input_but_keep_urls():
    message = "Failed to predict data '   sepal_length\n0  1.0'. \nError: bad " + STACK
    assert clean_message(message) == "bad"
    kept = "see https://mlflow.org/docs/latest/models.html and /invocations"
    assert clean_message(kept) == kept
    assert clean_message("read /usr/lib/x/y.py failed") == "read <path> failed"
    assert clean_message(f"cannot open {sys.prefix}/lib/model") == "cannot open <path>"


def test_a_value_the_caller_sent_is_echoed_as_sent_even_when_it_looks_like_a_path():
    message = "Invalid input: row 0, column 'sepal_length': expected a number in cm, got '/a/b'"
    assert clean_message(message) == message


def test_csv_cells_are_named_by_physical_line_and_empty_cells_are_left_to_the_model():
    text = (
        'sepal_length,sepal_width,petal_length,petal_width,note\n1,2,3,4,"two\nlines"\n,2,x,4,ok\n'
    )
    (problem,) = csv_cell_problems(text)
    assert (problem.line, problem.column, problem.kind) == (4, "petal_length", "not_a_number")


def test_metrics_count_what_the_layer_answered(metrics):
    app, _ = mlflow_like_app(400, json.dumps(CSV_FAILED).encode())
    layer = ServingLayer(app, lambda: "5", metrics)
    call(
        layer,
        b"sepal_length,sepal_width,petal_length,petal_width\nx,1,1,1\n",
        {"Content-Type": "text/csv"},
    )
    text = call(layer, path="/metrics", method="GET").text
    assert 'iris_requests_total{route="/invocations",status_class="4xx"} 1.0' in text
    assert 'iris_rejected_rows_total{column="sepal_length",problem="not_a_number"} 1.0' in text
    assert 'iris_model_version_info{version="5"} 1.0' in text


def test_request_log_lines_are_json_without_the_body(metrics, caplog):
    app, _ = mlflow_like_app(200, b'{"predictions": []}')
    layer = ServingLayer(app, lambda: "5", metrics, log_requests=True)
    with caplog.at_level("INFO", logger="iris_ml.access"):
        call(layer, b'{"secret-looking": "payload"}', {**JSON, "X-Request-ID": "r2"})
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "iris_ml.access"]
    assert line["request_id"] == "r2" and line["status"] == 200 and line["model_version"] == "5"
    assert tuple(line) == ACCESS_LOG_FIELDS
    assert "payload" not in json.dumps(line)


# The door (door.py): each limit with its own status, before any model code runs.

GOOD_SPLIT = b'{"dataframe_split": {"columns": ["a"], "data": [[1]]}}'


def test_a_body_declared_too_big_is_refused_unread_with_413(metrics):
    app, seen = mlflow_like_app(200, b"{}")
    layer = ServingLayer(app, lambda: "3", metrics, limits=Limits(max_body_bytes=1000))
    response = call(layer, b"x" * 1001, JSON)
    assert response.status_code == 413 and "body" not in seen
    assert "limit of 1000 bytes" in response.json()["message"]
    assert call(layer, GOOD_SPLIT, JSON).status_code == 200  # and it keeps serving


def test_a_streamed_body_is_cut_off_at_the_limit_with_413(metrics):
    app, seen = mlflow_like_app(200, b"{}")
    layer = ServingLayer(app, lambda: "3", metrics, limits=Limits(max_body_bytes=1000))
    read = []

    async def chunks():  # no Content-Length: the layer counts what arrives
        for _ in range(50):
            read.append(1)
            yield b"y" * 100

    response = call(layer, chunks(), JSON)
    assert response.status_code == 413 and "body" not in seen
    assert len(read) < 50  # the rest is never read
    assert response.json()["error_code"] == "REQUEST_ENTITY_TOO_LARGE"


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip"])
def test_an_encoded_body_is_refused_with_415(metrics, encoding):
    app, seen = mlflow_like_app(200, b"{}")
    layer = ServingLayer(app, lambda: "3", metrics)
    response = call(layer, GOOD_SPLIT, {**JSON, "Content-Encoding": encoding})
    assert response.status_code == 415 and "body" not in seen
    assert "uncompressed" in response.json()["message"]
    assert call(layer, GOOD_SPLIT, {**JSON, "Content-Encoding": "identity"}).status_code == 200


@pytest.mark.parametrize("body", [b"[" * 100_000, b"[" * 5000 + b"true", b'{"a":' * 40 + b"1"])
def test_json_nested_past_the_bound_is_a_400_not_mlflows_500(metrics, body):
    app, seen = mlflow_like_app(200, b"{}")
    layer = ServingLayer(app, lambda: "3", metrics)
    response = call(layer, body, JSON)
    assert response.status_code == 400 and "body" not in seen
    assert "nests deeper than" in response.json()["message"]


def test_nesting_counts_brackets_outside_strings_only():
    assert not nested_too_deep(b'{"a": "' + b"[" * 1000 + b'"}')
    assert not nested_too_deep(b"[" * 32 + b"]" * 32) and nested_too_deep(b"[" * 33 + b"]" * 33)
    assert not nested_too_deep(b'{"dataframe_records": [{"a": 5.1')  # truncated: the parser's case


def test_a_full_queue_answers_503_with_retry_after_and_then_serves_again(metrics):
    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        await receive()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    layer = ServingLayer(slow_app, lambda: "3", metrics, limits=Limits(max_queue=2))

    async def go():
        transport = httpx.ASGITransport(app=layer)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            post = lambda: client.post("/invocations", content=GOOD_SPLIT, headers=JSON)  # noqa: E731
            held = [asyncio.create_task(post()) for _ in range(2)]
            while layer.admission.pending < 2:
                await asyncio.sleep(0.01)
            busy = await post()
            release.set()
            done = await asyncio.gather(*held)
            return busy, done, await post()

    busy, done, after = asyncio.run(go())
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert "busy" in busy.json()["message"]
    assert [r.status_code for r in done] == [200, 200] and after.status_code == 200
    assert layer.admission.pending == 0


class SlowPlainModel:
    scores_plain = True

    def score_plain(self, matrix):
        time.sleep(1.5)
        return b'{"predictions": []}'


def test_the_fast_path_answers_504_past_the_timeout_and_keeps_serving(metrics):
    app, _ = mlflow_like_app(200, b"{}")
    layer = ServingLayer(
        app, lambda: "3", metrics, model_of=SlowPlainModel, limits=Limits(timeout=1)
    )
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    rows = [[5.1, 3.5, 1.4, 0.2]] * 4000  # past INLINE_BODY_BYTES: scored in a thread
    body = json.dumps({"dataframe_split": {"columns": names, "data": rows}}).encode()
    response = call(layer, body, JSON)
    assert response.status_code == 504, response.text
    assert "longer than the server's limit of 1 s" in response.json()["message"]
    assert layer.admission.pending == 0
