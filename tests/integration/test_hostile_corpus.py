"""One corpus of hostile requests (tests/data/hostile_requests.json) against every entry point.

Each server must answer the expected status with a message and keep serving. The
project's server never answers with a stack trace, a file path or a 5xx; plain
`mlflow models serve` is held to the same except where the corpus names its upstream
limits.
score_client must turn every expressible bad input into a typed error before
sending; the UI's handlers must report it without crashing.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import httpx
import pytest

from iris_ml.contract import FEATURE_NAMES
from score_client import InvalidInputError, ScoringClient
from tests import procs

pytestmark = pytest.mark.integration

CORPUS = json.loads((Path(__file__).parents[1] / "data" / "hostile_requests.json").read_text())
ENTRIES = CORPUS["requests"]
GOOD = {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [[6.3, 3.3, 6.0, 2.5]]}}


def body_of(entry: dict) -> bytes:
    if "text" in entry:
        return entry["text"].encode()
    if "latin1" in entry:  # bytes that are not UTF-8, kept readable in JSON
        return entry["latin1"].encode("latin-1")
    if "json" in entry:
        return json.dumps(entry["json"]).encode()
    kind, _, size = entry["generate"].partition(":")
    if kind == "gzip":  # a good request, compressed
        return gzip.compress(json.dumps(GOOD).encode())
    if kind == "brackets":
        return b"[" * int(size)
    if kind == "string":  # one JSON string filling the body: cheap to parse, big to read
        return json.dumps({"dataframe_split": "x" * int(size)}).encode()
    row = [5.1, 3.5, 1.4, 0.2]
    rows = int(size) if kind == "rows" else int(size) // len(json.dumps(row)) + 1
    return json.dumps(
        {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [row] * rows}}
    ).encode()


def rows_of(entry: dict) -> list | None:
    """The entry's rows as score_client would take them, or None when it is not about rows."""
    payload = entry.get("json")
    if entry.get("generate", "").startswith(("rows:", "bytes:")):
        payload = json.loads(body_of(entry))
    if not isinstance(payload, dict) or len(payload) != 1:
        return None
    ((key, value),) = payload.items()
    if key in ("dataframe_records", "instances") and isinstance(value, list):
        return value
    if key in ("dataframe_split", "input_data") and isinstance(value, dict):
        if not all(isinstance(c, str) for c in value["columns"]):
            return None  # not rows a client could hold: a column without a name
        return [dict(zip(value["columns"], row, strict=False)) for row in value["data"]]
    if key == "inputs" and isinstance(value, dict):
        return [
            dict(zip(value, column, strict=False)) for column in zip(*value.values(), strict=False)
        ]
    return None


def post(url: str, entry: dict, extra_headers: dict | None = None) -> httpx.Response:
    headers = {"Content-Type": entry["content_type"]} if entry["content_type"] else {}
    headers.update(entry.get("headers", {}))
    headers.update(extra_headers or {})
    request = httpx.Request("POST", url, content=body_of(entry), headers=headers)
    if not entry["content_type"]:
        request.headers.pop("Content-Type", None)
    with httpx.Client(timeout=120) as client:
        return client.send(request)


def assert_clean_and_alive(
    response: httpx.Response, entry: dict, score_url: str, allowed_traces: list[str]
) -> None:
    if response.status_code >= 400 and entry["name"] not in allowed_traces:
        text = response.text
        assert (
            "stack_trace" not in text and "Traceback" not in text and "site-packages" not in text
        ), text[:500]
        assert text.strip(), "an error without a message"
    after = httpx.post(score_url, json=GOOD, timeout=30)
    assert after.status_code == 200 and after.json()["predictions"][0]["species"] == "virginica"


def test_the_corpus_is_large_and_covers_the_required_cases():
    names = {e["name"] for e in ENTRIES}
    assert len(ENTRIES) >= 40
    for required in ("malformed JSON", "truncated JSON", "100,000 rows", "20 MB body", "missing content type",
                     "non-UTF-8 bytes", "CSV header only", "CSV formula cell", "1e308", "-Infinity literal",
                     "60 MB body", "100,000 open brackets", "gzip body"):  # fmt: skip
        assert required in names


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_the_projects_server(served_champion, entry):
    """No stack trace, no path, no 5xx; a JSON error naming the request id it answered."""
    rid = "corpus-" + "".join(c if c.isalnum() else "-" for c in entry["name"])[:60]
    response = post(served_champion.invocations, entry, {"X-Request-ID": rid})
    assert response.status_code == entry["expect"]["serve"], response.text[:300]
    assert response.headers["x-request-id"] == rid
    if response.status_code >= 400:
        error = response.json()
        assert {"error_code", "message", "request_id"} <= set(error), error
        assert "stack_trace" not in error
        assert error["request_id"] == rid and error["message"].strip()
        assert not re.search(r"(?<![\w:/.])/(?:[\w.-]+/)+", error["message"]), error["message"]
    assert_clean_and_alive(response, entry, served_champion.invocations, allowed_traces=[])


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_plain_mlflow_models_serve(plain_mlflow_server, entry):
    """The bare alternative: the same statuses but for its upstream limits, which the corpus names."""
    response = post(plain_mlflow_server + "/invocations", entry)
    assert response.status_code == entry["expect"]["mlflow"], response.text[:300]
    assert_clean_and_alive(
        response, entry, plain_mlflow_server + "/invocations", CORPUS["known_stack_trace"]
    )


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_azure_scoring_script_under_azmlinfsrv(azure_server, entry):
    base, _ = azure_server
    response = post(base + "/score", entry)
    assert response.status_code == entry["expect"]["azure"], response.text[:300]
    if response.status_code >= 400:  # the script is ours: no exceptions to the no-trace rule
        assert "Traceback" not in response.text and "site-packages" not in response.text
    assert httpx.post(base + "/score", json=GOOD, timeout=30).status_code == 200


ROW_ENTRIES = [e for e in ENTRIES if rows_of(e) is not None]


@pytest.mark.parametrize("entry", ROW_ENTRIES, ids=[e["name"] for e in ROW_ENTRIES])
def test_score_client_library(served_champion, entry):
    """Every bad row is a typed error before sending; nothing invalid is ever scored."""
    rows = rows_of(entry)
    with ScoringClient(served_champion.base_url, max_retries=0, chunk_size=20_000) as client:
        if entry["client"] in ("accept", "chunk"):
            assert len(client.predict(rows)) == len(rows)
        else:
            with pytest.raises(InvalidInputError):
                client.predict(rows)


def test_score_client_rejects_what_mlflow_would_silently_coerce(served_champion):
    with ScoringClient(served_champion.base_url) as client:
        for name in ("boolean true", "numeric string"):
            entry = next(e for e in ENTRIES if e["name"] == name)
            with pytest.raises(InvalidInputError):
                client.predict(rows_of(entry))


REJECTED = [e for e in ROW_ENTRIES if e["client"] == "reject" and rows_of(e)]


@pytest.mark.parametrize("entry", REJECTED, ids=[e["name"] for e in REJECTED])
def test_score_client_cli(served_champion, tmp_path, entry):
    src = tmp_path / "rows.json"
    src.write_text(json.dumps(rows_of(entry)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "score_client",
            "--url",
            served_champion.base_url,
            "predict",
            "--json",
            str(src),
        ],
        env=procs.base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "invalid input" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("entry", REJECTED, ids=[e["name"] for e in REJECTED])
def test_ui_handlers(served_champion, tmp_path, entry):
    """The batch handler reports the bad rows by line (or refuses the file) and never crashes."""
    from iris_ml_ui.app import score_file

    rows = rows_of(entry)
    src = tmp_path / "in.csv"
    columns = sorted({k for r in rows if isinstance(r, dict) for k in r}) or list(FEATURE_NAMES)
    with src.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {
                    k: (
                        ""
                        if v is None
                        else json.dumps(v)
                        if isinstance(v, (dict, list, bool))
                        else v
                    )
                    for k, v in r.items()
                }
            )
    with ScoringClient(served_champion.base_url, max_retries=0) as client:
        try:
            table, _, summary = score_file(client, str(src), tmp_path / "out")
        except gr.Error as exc:
            assert "Traceback" not in str(exc.message)
            return
    if entry["name"] == "numeric string":  # in a CSV every cell is text: "5.1" is a number there
        assert not table.errors and table.scored == 1
        return
    if entry["name"] == "instances misspelled column":  # only the case differs: a CSV header
        assert not table.errors and table.scored == 1  # matches ignoring case (docs/client.md)
        return
    assert table.errors, f"{entry['name']}: nothing reported"
    assert "not scored" in summary
