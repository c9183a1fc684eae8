"""score_client against real servers: the served champion, and a scripted loopback server."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iris_ml.contract import FEATURE_NAMES, SPECIES
from score_client import APIConnectionError, APIStatusError, BadRequestError, ScoringClient
from tests import procs

pytestmark = pytest.mark.integration

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def cli(*args: str, env_extra: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "score_client", *args],
        env=procs.base_env(**(env_extra or {})),
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
    )


def test_single_row(served_champion):
    with ScoringClient(served_champion.base_url) as client:
        [p] = client.predict([SETOSA])
    assert p.species == "setosa" and p.model_version == "1"
    assert set(p.probabilities) == set(SPECIES)


def test_client_contract_equals_the_served_models_signature(trained_store, monkeypatch):
    from mlflow.models import get_model_info

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.tracking_uri)
    signature = get_model_info("models:/iris-classifier@champion").signature
    assert tuple(signature.inputs.input_names()) == FEATURE_NAMES
    assert {str(t) for t in signature.inputs.input_types()} == {"DataType.double"}


def test_server_side_400_is_surfaced_cleanly(served_champion):
    """A request the server rejects (rows past the model's limit) surfaces its message."""
    rows = [SETOSA] * 50_001
    with ScoringClient(served_champion.base_url, chunk_size=50_000) as client:
        # Chunking keeps each request within the limit: the client succeeds.
        assert len(client.predict(rows)) == 50_001
    with ScoringClient(served_champion.base_url, max_retries=0) as client:
        # One block past the limit, sent as is: the streaming API does not chunk.
        values = [[row[name] for name in FEATURE_NAMES] for row in rows]
        with pytest.raises(BadRequestError) as info:
            list(client.score_blocks([(values, (0, len(values)))]))
    assert info.value.status_code == 400
    assert info.value.message == "Invalid input: 50001 rows in one request; the limit is 50000"


def test_ten_thousand_row_csv_round_trip_through_the_cli(served_champion, tmp_path):
    rng = np.random.default_rng(3)
    data = rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(10_000, 4)).round(2)
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    columns = ["id", *reversed(FEATURE_NAMES)]  # any order, plus an extra column
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for i, row in enumerate(data):
            w.writerow([f"f{i}", *reversed(row.tolist())])
    result = cli(
        "--url",
        served_champion.base_url,
        "predict",
        "--csv",
        str(src),
        "--out",
        str(out),
        "--chunk-size",
        "2500",
    )
    assert result.returncode == 0, result.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10_000
    assert [r["id"] for r in rows[:3]] == ["f0", "f1", "f2"] and rows[-1]["id"] == "f9999"
    assert list(rows[0])[:5] == columns and "species" in rows[0] and "proba_virginica" in rows[0]
    assert {r["species"] for r in rows} <= set(SPECIES)
    assert float(rows[0]["petal_width"]) == data[0][3]


def test_cli_reports_bad_rows_with_exit_3_and_skip_invalid_scores_the_rest(
    served_champion, tmp_path
):
    src = tmp_path / "mixed.csv"
    src.write_text(",".join(FEATURE_NAMES) + "\n5.1,3.5,1.4,0.2\n5.1,,1.4,0.2\n6.3,3.3,6.0,2.5\n")
    strict = cli("--url", served_champion.base_url, "predict", "--csv", str(src))
    assert strict.returncode == 3 and "column is missing" not in strict.stderr
    # Named by its line in the file: the header is line 1.
    assert "line 3, column 'sepal_width': value is missing" in strict.stderr
    lenient = cli(
        "--url",
        served_champion.base_url,
        "predict",
        "--csv",
        str(src),
        "--skip-invalid",
        "--format",
        "json",
    )
    assert lenient.returncode == 3
    rows = json.loads(lenient.stdout)
    assert [r["species"] for r in rows] == ["setosa", "", "virginica"]
    assert rows[1]["error"] == "sepal_width: value is missing (null)"


def test_cli_flags_health_and_env_url(served_champion):
    env = {"SCORING_URI": served_champion.base_url}
    result = cli(
        "predict",
        "--sepal-length",
        "6.3",
        "--sepal-width",
        "3.3",
        "--petal-length",
        "6.0",
        "--petal-width",
        "2.5",
        "--format",
        "json",
        env_extra=env,
    )
    assert result.returncode == 0 and json.loads(result.stdout)[0]["species"] == "virginica"
    health = cli("health", env_extra=env)
    assert health.returncode == 0 and "UP" in health.stdout and "model version 1" in health.stdout


def test_endpoint_down_gives_the_connection_error_fast():
    url = f"http://127.0.0.1:{procs.free_port()}"
    waits: list[float] = []
    with ScoringClient(url, sleep=waits.append) as client, pytest.raises(APIConnectionError):
        client.predict([SETOSA])
    assert len(waits) == 2 and sum(waits) < 2  # two quick retries, then the error
    result = cli("--url", url, "--retries", "0", "health")
    assert result.returncode == 5 and "DOWN" in result.stdout


class _Scripted(BaseHTTPRequestHandler):
    """Answers from a script: a list of (status, headers) consumed one per request, then 200."""

    script: ClassVar[list[tuple[int, dict[str, str]]]] = []
    seen: ClassVar[list[float]] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        type(self).seen.append(time.monotonic())
        status, headers = type(self).script.pop(0) if type(self).script else (200, {})
        if status == 200:
            n = len(body["dataframe_split"]["data"])
            payload = {
                "predictions": [
                    {"species": "setosa", "probabilities": dict.fromkeys(SPECIES, 1 / 3)}
                ]
                * n
            }
        else:
            payload = {"message": f"scripted {status}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Scripted.seen = []
    try:
        yield _Scripted, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_retry_503_then_200_end_to_end(scripted_server):
    handler, url = scripted_server
    handler.script = [(503, {}), (503, {})]
    with ScoringClient(url, max_retries=2) as client:
        assert client.predict([SETOSA])[0].species == "setosa"
    assert len(handler.seen) == 3


def test_retry_honours_429_retry_after_end_to_end(scripted_server):
    handler, url = scripted_server
    handler.script = [(429, {"Retry-After": "1"})]
    with ScoringClient(url) as client:
        client.predict([SETOSA])
    assert len(handler.seen) == 2 and handler.seen[1] - handler.seen[0] >= 0.95


def test_no_retry_on_other_4xx_end_to_end(scripted_server):
    handler, url = scripted_server
    handler.script = [(422, {})]
    with ScoringClient(url) as client, pytest.raises(APIStatusError) as info:
        client.predict([SETOSA])
    assert len(handler.seen) == 1 and "scripted 422" in str(info.value)


# Cells a CSV file can hold (no NUL; a bare CR reads as a line break, as in spreadsheets).
_CELL_TEXT = st.text(st.characters(exclude_characters="\x00\r", exclude_categories=["Cs"]))


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(
        st.one_of(
            _CELL_TEXT, st.sampled_from(["00123", "1e3", "007.50", "0", "-0", " x ", "=1+1"])
        ),
        min_size=1,
        max_size=12,
    ),
    crlf=st.booleans(),
)
def test_pass_through_cells_survive_the_real_cli_unchanged(served_champion, tmp_path, ids, crlf):
    src = tmp_path / "in.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(["id", *FEATURE_NAMES, "note"])
        writer.writerows([[cell, "5.10", "3.5", "1.40", "0.2", cell] for cell in ids])
    result = cli("--url", served_champion.base_url, "predict", "--csv", str(src))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert [r[0] for r in rows[1:]] == ids and [r[5] for r in rows[1:]] == ids
    assert {tuple(r[1:5]) for r in rows[1:]} == {("5.10", "3.5", "1.40", "0.2")}  # as typed
    assert {r[6] for r in rows[1:]} == {"setosa"}


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"], ids=["bom-crlf", "bom-lf"])
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_the_cli_scores_excel_csv_utf8_files(served_champion, tmp_path, line_end, source):
    data = line_end.join(
        [
            b"\xef\xbb\xbfid," + ",".join(FEATURE_NAMES).encode(),
            b"00123,5.1,3.5,1.4,0.2",
            b'"caf\xc3\xa9, ""quoted""",6.3,3.3,6.0,2.5',
            b"",
        ]
    )
    src = tmp_path / "excel.csv"
    src.write_bytes(data)
    args = ["--url", served_champion.base_url, "predict", "--csv"]
    if source == "file":
        result = cli(*args, str(src))
    else:
        result = subprocess.run(
            [sys.executable, "-m", "score_client", *args, "-"],
            env=procs.base_env(),
            input=data,
            capture_output=True,
            timeout=300,
        )
        result.stdout = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert rows[0][0] == "id" and [r[0] for r in rows[1:]] == ["00123", 'café, "quoted"']
    assert [r[5] for r in rows[1:]] == ["setosa", "virginica"]
