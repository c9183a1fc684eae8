"""The Azure scoring script under the real azmlinfsrv, with a model trained by the project."""

from __future__ import annotations

import json

import httpx
import pytest

from iris_ml.contract import FEATURE_NAMES, SPECIES
from score_client import BadRequestError, ScoringClient
from tests import procs
from tests.azml import azure_scoring_server

pytestmark = pytest.mark.integration

SCORING_DIR = procs.REPO / "deploy" / "azureml" / "scoring"
SAMPLE = json.loads((procs.REPO / "deploy" / "azureml" / "sample-request.json").read_text())
JSON = {"Content-Type": "application/json"}
LOCAL_TEST_KEY = "local-test-key"  # pragma: allowlist secret
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]


def test_azure_input_data_payload_scores_with_the_contracts_shape(azure_server):
    base, _ = azure_server
    response = httpx.post(base + "/score", json=SAMPLE, timeout=30)
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["species"] for p in predictions] == list(SPECIES)
    assert all(p["model_version"] == "1" for p in predictions)  # from the mount path
    assert all(sum(p["probabilities"].values()) == pytest.approx(1) for p in predictions)


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": ROWS}},
        {"dataframe_records": [dict(zip(FEATURE_NAMES, r, strict=True)) for r in ROWS]},
        {"instances": [dict(zip(FEATURE_NAMES, r, strict=True)) for r in ROWS]},
        {"inputs": {n: [ROWS[0][i], ROWS[1][i]] for i, n in enumerate(FEATURE_NAMES)}},
        {"input_data": [dict(zip(FEATURE_NAMES, r, strict=True)) for r in ROWS]},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs", "input_data records"],
)
def test_mlflow_style_payloads_score_the_same(azure_server, payload):
    base, _ = azure_server
    response = httpx.post(base + "/score", json=payload, timeout=30)
    assert response.status_code == 200, response.text
    assert [p["species"] for p in response.json()["predictions"]] == ["setosa", "virginica"]


def rec(**changes):
    return json.dumps(
        {
            "input_data": {
                "columns": list(FEATURE_NAMES),
                "index": [0],
                "data": [[changes.get(n, v) for n, v in zip(FEATURE_NAMES, ROWS[0], strict=True)]],
            }
        }
    )


AZURE_BAD = [
    (
        "missing column",
        JSON,
        json.dumps({"input_data": {"columns": FEATURE_NAMES[:3], "data": [ROWS[0][:3]]}}),
        400,
        "petal_width",
    ),
    ("null", JSON, rec(sepal_length=None), 400, "value is NaN"),
    ("NaN literal", JSON, rec().replace("5.1", "NaN"), 400, "NaN"),
    ("string", JSON, rec(petal_length="long"), 400, "petal_length"),
    ("negative", JSON, rec(petal_width=-1), 400, "must be greater than 0"),
    ("huge", JSON, rec(sepal_length=1e308), 400, "at most 20"),
    (
        "empty rows",
        JSON,
        json.dumps({"input_data": {"columns": list(FEATURE_NAMES), "data": []}}),
        400,
        "",
    ),
    ("wrong key", JSON, json.dumps({"rows": []}), 400, "expected exactly one"),
    (
        "two keys",
        JSON,
        json.dumps({"input_data": [], "instances": []}),
        400,
        "expected exactly one",
    ),
    ("malformed JSON", JSON, '{"input_data": ', 400, "not valid JSON"),
    ("JSON list", JSON, "[1, 2]", 400, "expected a JSON object"),
    ("input_data scalar", JSON, '{"input_data": 3}', 400, "input_data must be"),
    ("non-UTF-8", JSON, b'{"input_data": "\xff\xfe"}', 400, "not UTF-8"),
    ("wrong content type", {"Content-Type": "text/csv"}, "a,b\n1,2\n", 415, "application/json"),
    ("nested object", JSON, rec(sepal_length={"cm": 5}), 400, "sepal_length"),
]


@pytest.mark.parametrize(
    ("name", "headers", "body", "status", "fragment"), AZURE_BAD, ids=[b[0] for b in AZURE_BAD]
)
def test_bad_input_gets_4xx_without_a_stack_trace(
    azure_server, name, headers, body, status, fragment
):
    base, _proc = azure_server
    response = httpx.post(base + "/score", content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert "Traceback" not in response.text and "site-packages" not in response.text
    assert httpx.post(base + "/score", json=SAMPLE, timeout=30).status_code == 200


def test_a_request_without_content_type_is_read_as_json(azure_server):
    """Unlike MLflow's server (500), the scoring script assumes JSON."""
    base, _ = azure_server
    request = httpx.Request("POST", base + "/score", content=json.dumps(SAMPLE))
    request.headers.pop("Content-Type", None)
    with httpx.Client(timeout=30) as client:
        assert client.send(request).status_code == 200


def test_score_client_works_against_azmlinfsrv(azure_server):
    base, _ = azure_server
    with ScoringClient(base + "/score", api_key=LOCAL_TEST_KEY) as client:
        assert client.settings.backend.name == "azureml"
        predictions = client.predict(
            [dict(zip(FEATURE_NAMES, r, strict=True)) for r in ROWS] * 3000
        )
        assert [p.species for p in predictions[:2]] == ["setosa", "virginica"] and len(
            predictions
        ) == 6000
        assert client.health().model_version == "1"
        with pytest.raises(BadRequestError):
            client._post_values([[*ROWS[0][:3], -1.0]], (0, 1))


def test_ui_handlers_work_against_azmlinfsrv(azure_server, tmp_path):
    from iris_ml_ui.app import predict_one, score_file, status_text

    base, _ = azure_server
    with ScoringClient(base + "/score") as client:
        assert predict_one(client, *ROWS[1]).detail.startswith("**virginica**")
        src = tmp_path / "in.csv"
        src.write_text(",".join(FEATURE_NAMES) + "\n5.1,3.5,1.4,0.2\n5.1,3.5,,0.2\n")
        table, _, summary = score_file(client, str(src), tmp_path / "out")
        assert table.scored == 1 and "line 3: petal_length" in summary
        assert "(azureml) is **up**: model version 1" in status_text(client)


FAKE_COLLECTOR = procs.REPO / "tests" / "fakes" / "collector"


def test_collected_rows_are_the_scored_rows_under_the_callers_request_id(trained_store, tmp_path):
    """The data collector path runs under azmlinfsrv with a collector that records its rows."""
    collected = tmp_path / "collected.jsonl"
    extra = {"PYTHONPATH": str(FAKE_COLLECTOR), "FAKE_COLLECTOR_FILE": str(collected)}
    with azure_scoring_server(trained_store, tmp_path, **extra) as (base, _):
        response = httpx.post(
            base + "/score", json=SAMPLE, headers={"x-request-id": "order-00123"}, timeout=30
        )
        assert response.status_code == 200 and response.headers["x-request-id"] == "order-00123"
        bad = httpx.post(
            base + "/score",
            json={"input_data": {"columns": list(FEATURE_NAMES), "data": [[5.1, 3.5, 1.4, -1]]}},
            headers={"x-ms-client-request-id": "order-00124"},
            timeout=30,
        )
        assert bad.status_code == 400 and bad.json()["request_id"] == "order-00124"
    rows = [json.loads(line) for line in collected.read_text().splitlines()]
    mine = [r for r in rows if r["request_id"] == "order-00123"]
    inputs = [r for r in mine if r["collection"] == "model_inputs"]
    outputs = [r for r in mine if r["collection"] == "model_outputs"]
    assert [[r[f] for f in FEATURE_NAMES] for r in inputs] == SAMPLE["input_data"]["data"]
    assert [r["species"] for r in outputs] == [p["species"] for p in response.json()["predictions"]]
    assert {r["model_version"] for r in mine} == {"1"}
    assert not [
        r for r in rows if r["request_id"] == "order-00124"
    ]  # refused rows are not collected


def test_a_collector_that_fails_changes_no_answer_and_is_said_once(azure_server):
    """The session's server has the real azureml-ai-monitoring and no Azure data collector
    behind it: every collect fails, as it would with a broken release."""
    base, proc = azure_server
    answers = [httpx.post(base + "/score", json=SAMPLE, timeout=30) for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].json() == answers[2].json()
    assert proc.output().count("scoring goes on without it") == 1
