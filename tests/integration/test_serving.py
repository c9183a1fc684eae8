"""`mlflow models serve` on the champion: every input format, and bad requests answered cleanly."""

from __future__ import annotations

import json
import sys

import httpx
import pytest

from iris_ml.contract import FEATURE_NAMES, SPECIES

pytestmark = pytest.mark.integration

SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.9, 3.1, 5.4, 2.3]
JSON = {"Content-Type": "application/json"}


def record(values):
    return dict(zip(FEATURE_NAMES, values, strict=True))


GOOD_REQUESTS = {
    "dataframe_split": (
        JSON,
        {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [SETOSA, VIRGINICA]}},
    ),
    "dataframe_records": (JSON, {"dataframe_records": [record(SETOSA), record(VIRGINICA)]}),
    "instances": (JSON, {"instances": [record(SETOSA), record(VIRGINICA)]}),
    "inputs": (
        JSON,
        {"inputs": {n: [a, b] for n, a, b in zip(FEATURE_NAMES, SETOSA, VIRGINICA, strict=True)}},
    ),
    "csv": (
        {"Content-Type": "text/csv"},
        ",".join(FEATURE_NAMES)
        + "\n"
        + ",".join(map(str, SETOSA))
        + "\n"
        + ",".join(map(str, VIRGINICA))
        + "\n",
    ),
}


@pytest.mark.parametrize("fmt", list(GOOD_REQUESTS))
def test_every_input_format_returns_species_and_probabilities(served_champion, fmt):
    headers, body = GOOD_REQUESTS[fmt]
    content = body if isinstance(body, str) else json.dumps(body)
    response = httpx.post(served_champion.invocations, content=content, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["species"] for p in predictions] == ["setosa", "virginica"]
    for p in predictions:
        assert list(p["probabilities"]) == list(SPECIES)
        assert sum(p["probabilities"].values()) == pytest.approx(1.0)
        assert p["model_version"] == "1"


def records_with(**changes):
    return json.dumps({"dataframe_records": [{**record(SETOSA), **changes}]})


# (name, content-type, body, expected status, text the message must contain)
BAD_REQUESTS = [
    (
        "missing column",
        "application/json",
        json.dumps(
            {"dataframe_records": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4}]}
        ),
        400,
        "petal_width",
    ),
    (
        "misspelled column",
        "application/json",
        json.dumps(
            {
                "dataframe_split": {
                    "columns": ["sepal_length", "sepal_width", "petal_length", "petal_wdith"],
                    "data": [SETOSA],
                }
            }
        ),
        400,
        "petal_width",
    ),
    (
        "null",
        "application/json",
        records_with(sepal_length=None),
        400,
        "row 0, column 'sepal_length': value is NaN",
    ),
    (
        "NaN literal",
        "application/json",
        '{"dataframe_records": [{"sepal_length": NaN, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}',
        400,
        "value is NaN",
    ),
    (
        "Infinity literal",
        "application/json",
        '{"dataframe_records": [{"sepal_length": 5.1, "sepal_width": Infinity, "petal_length": 1.4, "petal_width": 0.2}]}',
        400,
        "infinity",
    ),
    ("string", "application/json", records_with(petal_length="long"), 400, "petal_length"),
    (
        "negative",
        "application/json",
        records_with(petal_width=-0.2),
        400,
        "row 0, column 'petal_width': must be greater than 0",
    ),
    ("zero", "application/json", records_with(sepal_width=0), 400, "must be greater than 0"),
    ("huge", "application/json", records_with(sepal_length=1e308), 400, "must be at most 20"),
    ("absurd", "application/json", records_with(petal_length=150), 400, "must be at most 20"),
    (
        "second row bad",
        "application/json",
        json.dumps({"dataframe_records": [record(SETOSA), {**record(SETOSA), "sepal_width": -3}]}),
        400,
        "row 1, column 'sepal_width'",
    ),
    ("empty list", "application/json", json.dumps({"dataframe_records": []}), 400, ""),
    (
        "empty split",
        "application/json",
        json.dumps({"dataframe_split": {"columns": list(FEATURE_NAMES), "data": []}}),
        400,
        "",
    ),
    (
        "wrong key",
        "application/json",
        json.dumps({"rows": [record(SETOSA)]}),
        400,
        "dataframe_split",
    ),
    (
        "two keys",
        "application/json",
        json.dumps({"dataframe_records": [record(SETOSA)], "instances": [record(SETOSA)]}),
        400,
        "exactly one",
    ),
    ("malformed JSON", "application/json", '{"dataframe_split": {"columns": [', 400, "valid JSON"),
    ("JSON list", "application/json", json.dumps([record(SETOSA)]), 400, "list"),
    ("JSON scalar", "application/json", "42", 400, ""),
    (
        "nested object",
        "application/json",
        records_with(sepal_length={"cm": 5.1}),
        400,
        "sepal_length",
    ),
    ("wrong content type", "text/plain", records_with(), 415, "content types"),
    ("non-UTF-8 charset", "application/json; charset=latin-1", records_with(), 415, "UTF-8"),
    ("CSV header only", "text/csv", ",".join(FEATURE_NAMES) + "\n", 400, ""),
]


@pytest.mark.parametrize(
    ("name", "ctype", "body", "status", "fragment"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_requests_get_a_clean_4xx_and_the_server_keeps_serving(
    served_champion, name, ctype, body, status, fragment
):
    response = httpx.post(
        served_champion.invocations, content=body, headers={"Content-Type": ctype}, timeout=30
    )
    assert response.status_code == status, response.text[:500]
    text = response.text
    assert fragment in text
    assert "stack_trace" not in text and "Traceback" not in text and "site-packages" not in text
    after = httpx.post(
        served_champion.invocations,
        content=json.dumps({"dataframe_records": [record(VIRGINICA)]}),
        headers=JSON,
        timeout=30,
    )
    assert after.status_code == 200 and after.json()["predictions"][0]["species"] == "virginica"


def test_a_missing_content_type_is_a_415_here_and_a_500_on_plain_mlflow(
    served_champion, plain_mlflow_server
):
    """MLflow's handler fails before the model runs when Content-Type is absent (an upstream
    limit, docs/serving.md); the project's layer refuses it first. If MLflow fixes this,
    the plain half fails and the docs need updating."""
    statuses = {}
    for name, url in (("ours", served_champion.invocations), ("plain", plain_mlflow_server + "/invocations")):  # fmt: skip
        request = httpx.Request("POST", url, content=records_with())
        request.headers.pop("Content-Type", None)
        with httpx.Client(timeout=30) as client:
            response = client.send(request)
        assert "Traceback" not in response.text
        statuses[name] = response.status_code
        if name == "ours":
            assert "Content-Type is missing" in response.json()["message"]
    assert statuses == {"ours": 415, "plain": 500}
    # uvicorn drops the plain server's connection after the unhandled error; a new one is served.
    assert httpx.get(plain_mlflow_server + "/ping", timeout=10).status_code == 200


def test_json_booleans_are_refused_here_and_scored_as_numbers_on_plain_mlflow(
    served_champion, plain_mlflow_server
):
    """MLflow's parser reads JSON true/false as 1.0/0.0 before any model sees them (an
    upstream limit, docs/serving.md); the project's layer refuses them, naming the cell.
    If MLflow stops coercing, the plain half fails and the docs need updating."""
    plain = httpx.post(
        plain_mlflow_server + "/invocations",
        content=records_with(sepal_length=True),
        headers=JSON,
        timeout=30,
    )
    assert plain.status_code == 200  # true scored as a 1 cm sepal
    for value in (True, False):
        ours = httpx.post(
            served_champion.invocations,
            content=records_with(sepal_length=value),
            headers=JSON,
            timeout=30,
        )
        assert ours.status_code == 400, ours.text
        body = ours.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert body["message"] == (
            f"Invalid input: row 0, column 'sepal_length': expected a number in cm, got {value}"
        )
    # A value "true" in a column the model ignores is not a feature: it is scored.
    ignored = httpx.post(
        served_champion.invocations,
        content=records_with(note="true", flag=True),
        headers=JSON,
        timeout=30,
    )
    assert ignored.status_code == 200, ignored.text


def test_a_csv_cell_that_is_no_number_is_named_here_and_a_stack_trace_on_plain_mlflow(
    served_champion, plain_mlflow_server
):
    """MLflow's CSV reader answers 400 *with* a stack_trace before the model runs (an upstream
    limit, docs/serving.md); the project's layer names the line and column instead."""
    body = ",".join(FEATURE_NAMES) + "\n5.1,3.5,1.4,0.2\n5.1,abc,1.4,0.2\n"
    csv = {"Content-Type": "text/csv"}
    ours = httpx.post(served_champion.invocations, content=body, headers=csv, timeout=30)
    assert ours.status_code == 400 and "stack_trace" not in ours.json()
    assert ours.json()["message"] == (
        "Invalid input: line 3, column 'sepal_width': expected a number in cm, got 'abc'"
    )
    plain = httpx.post(plain_mlflow_server + "/invocations", content=body, headers=csv, timeout=30)
    assert plain.status_code == 400 and "stack_trace" in plain.json()
    assert httpx.get(served_champion.base_url + "/ping", timeout=10).status_code == 200


def test_the_server_binds_to_loopback_only(served_champion):
    assert served_champion.base_url.startswith("http://127.0.0.1:")
    assert "Uvicorn running on http://127.0.0.1:" in served_champion.proc.output()


@pytest.mark.parametrize("via", ["plain mlflow models serve", "launcher --via-mlflow-cli"])
def test_the_documented_mlflow_models_serve_command_works_too(trained_store, tmp_path, via):
    """`mlflow models serve -m models:/iris-classifier@champion` as the docs show it."""
    from tests import procs

    port = procs.free_port()
    if via == "plain mlflow models serve":
        cmd = [str(procs.BIN / "mlflow"), "models", "serve", "-m", "models:/iris-classifier@champion",
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    else:
        cmd = [
            sys.executable,
            "-m",
            "iris_ml.serving.launcher",
            "--via-mlflow-cli",
            "--workers",
            "1",
            "--port",
            str(port),
        ]
    proc = procs.Proc(
        cmd, procs.base_env(trained_store.tracking_uri), tmp_path / "serve.log", cwd=tmp_path
    )
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/ping", timeout=180)
        headers, body = GOOD_REQUESTS["dataframe_split"]
        response = httpx.post(
            f"http://127.0.0.1:{port}/invocations", json=body, headers=headers, timeout=30
        )
        predictions = response.json()["predictions"]
        assert [p["species"] for p in predictions] == ["setosa", "virginica"]
        # Only the launcher tells the model its registry version.
        assert ("model_version" in predictions[0]) == (via != "plain mlflow models serve")
        # Idle past httpx's 5 s expiry: uvicorn's default (5 s) has dropped the connection by
        # then, the launcher's keep-alive (65 s) has not.
        statuses = procs.statuses_on_one_connection(
            f"http://127.0.0.1:{port}", json.dumps(body).encode(), idle_s=6
        )
        assert statuses == ([200, "closed"] if via == "plain mlflow models serve" else [200, 200])
    finally:
        proc.stop()
