"""Scoring tables: CSV and records scored while read, in order, bad rows reported, output safe."""

import io
import json
import os
import stat
import threading

import httpx
import pytest

from score_client import BadRequestError, TableError, UnexpectedResponseError
from score_client._backends import decode_predictions
from score_client._tables import (
    RESULT_COLUMNS,
    CsvWriter,
    score_csv,
    score_records,
    to_csv_text,
)
from score_client.cli import main
from tests.unit.test_score_client import echo_handler, make_client

HEADER = "sepal_length,sepal_width,petal_length,petal_width"


def csv_of(lines):
    return io.StringIO("\n".join([HEADER, *lines]) + "\n")


def flower(i):
    """A valid row whose first value encodes its position (the echo server returns it)."""
    return f"{1 + i / 100:.2f},3.5,1.4,0.2"


def test_a_csv_is_scored_in_blocks_in_input_order_with_bad_rows_reported():
    requests = []
    client, _ = make_client(echo_handler(requests), chunk_size=3, concurrency=2)
    lines = [flower(i) for i in range(10)]
    lines[4] = "5.1,-3,1.4,0.2"
    lines[7] = "=cmd|' /C calc'!A0,3.5,1.4,0.2"
    table = score_csv(client, csv_of(lines))
    assert len(requests) == 4  # input rows in batches of 3, each sent without its bad rows
    assert [e.row for e in table.errors] == [4, 7]
    assert table.scored == 8 and len(table.cells) == 10
    rows = table.rows
    for i, row in enumerate(rows):
        if i in (4, 7):
            assert row["species"] == "" and row["error"]
        else:
            # The fake server echoes the first value as proba_setosa: order is kept.
            assert row["proba_setosa"] == pytest.approx(float(lines[i].split(",")[0]) / 100)
            assert row["species"] == "setosa" and row["model_version"] == "3"
    assert "sepal_width: must be greater than 0" in rows[4]["error"]
    # The formula cell is stored neutralised, so any CSV written from the table is inert.
    assert rows[7]["sepal_length"].startswith("'=cmd")
    assert "\n'=cmd|" in to_csv_text(table)


def test_rows_are_handed_over_in_order_while_later_blocks_are_still_scored():
    requests = []
    handed = []
    seen_when_handed = []
    client, _ = make_client(echo_handler(requests), chunk_size=4, concurrency=2)

    def sink(columns, rows):
        handed.extend(list(r) for r in rows)
        seen_when_handed.append(len(requests))

    table = score_csv(client, csv_of([flower(i) for i in range(20)]), on_rows=sink)
    assert handed == table.cells
    assert len(seen_when_handed) >= 4
    assert seen_when_handed[0] < 5  # the first rows went out before the last block was sent


def test_stop_at_first_error_sends_nothing_after_the_bad_row_but_reports_every_problem():
    requests = []
    client, _ = make_client(echo_handler(requests), chunk_size=2, concurrency=1)
    lines = [flower(i) for i in range(12)]
    lines[3] = "5.1,x,1.4,0.2"
    lines[10] = ",3.5,1.4,0.2"
    table = score_csv(client, csv_of(lines), stop_at_first_error=True)
    assert len(requests) == 1  # only the block completed before row 3
    assert [e.row for e in table.errors] == [3, 10]
    assert "value is missing" in table.errors[1].problem


def test_a_failing_block_stops_the_run_and_queued_blocks_are_not_sent():
    requests = []
    lock = threading.Lock()

    def handler(request):
        with lock:
            requests.append(request)
        data = json.loads(request.content)["dataframe_split"]["data"]
        if data[0][0] >= 1.04:
            return httpx.Response(400, json={"message": "no"})
        return echo_handler([])(request)

    client, _ = make_client(handler, chunk_size=2, concurrency=2, max_retries=0)
    with pytest.raises(BadRequestError) as info:
        score_csv(client, csv_of([flower(i) for i in range(40)]))
    assert info.value.row_range == (4, 6)
    assert len(requests) <= 6  # the failing block, at most one before it and three queued


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the CSV is empty"),
        ("a,b\n1,2\n", r"the header lacks column\(s\)"),
        (f"{HEADER}\n" + "\n".join(["5.1,3.5,1.4,0.2"] * 6), "more than 5 rows"),
        (f"{HEADER}\n{'9' * 200_000},3.5,1.4,0.2\n", "CSV line 2: field larger than field limit"),
    ],
)
def test_unusable_csvs_raise_table_errors(text, message):
    client, _ = make_client(echo_handler([]))
    with pytest.raises(TableError, match=message):
        score_csv(client, io.StringIO(text), max_rows=5)


def test_columns_in_any_order_extra_and_short_rows_and_blank_lines():
    client, _ = make_client(echo_handler([]))
    text = (
        "note,petal_width,sepal_length,sepal_width,petal_length,species\n"
        "a,0.2,5.1,3.5,1.4,old\n"
        "\n"
        "b,0.2,5.1\n"
        "c,0.2,5.1,3.5,1.4,old,surplus\n"
    )
    table = score_csv(client, io.StringIO(text))
    # An input column named like a result column is replaced by the result.
    assert table.columns == [
        "note",
        "petal_width",
        "sepal_length",
        "sepal_width",
        "petal_length",
        *RESULT_COLUMNS,
    ]
    assert [r["note"] for r in table.rows] == ["a", "b", "c"]
    assert [e.row for e in table.errors] == [1, 1]
    assert table.rows[0]["species"] == "setosa" and table.rows[2]["species"] == "setosa"


def test_records_keep_json_values_and_report_non_objects():
    client, _ = make_client(echo_handler([]))
    records = [
        {"sepal_length": 5, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
        ["not", "an", "object"],
        {"sepal_length": "5.1", "sepal_width": 3.5, "petal_length": 1.4, "petal_width": True},
    ]
    table = score_records(
        client, ["sepal_length", "sepal_width", "petal_length", "petal_width"], records
    )
    assert table.scored == 1 and table.rows[0]["sepal_length"] == 5
    assert [(e.row, e.column) for e in table.errors] == [
        (1, None),
        (2, "sepal_length"),
        (2, "petal_width"),
    ]
    assert table.rows[1]["error"].startswith("expected an object")


def test_writer_leaves_out_the_error_column_on_request_and_neutralises_the_header():
    client, _ = make_client(echo_handler([]))
    table = score_csv(client, io.StringIO("=HYPERLINK(1)," + HEADER + "\nx,5.1,3.5,1.4,0.2\n"))
    out = io.StringIO()
    CsvWriter(out, with_errors=False)(table.columns, table.cells)
    header, row = out.getvalue().splitlines()
    assert header.startswith("'=HYPERLINK(1),") and not header.endswith(",error")
    assert row.split(",")[5] == "setosa"


@pytest.mark.parametrize(
    "probabilities",
    [
        {"setosa": True, "versicolor": 0.0, "virginica": 0.0},
        {"setosa": "=1+1", "versicolor": 0.0, "virginica": 0.0},
        {"setosa": 0.5, "versicolor": 0.5},
        {"setosa": 0.5, "versicolor": 0.5, "virginica": None},
    ],
)
def test_a_response_with_malformed_probabilities_is_refused(probabilities):
    body = {"predictions": [{"species": "setosa", "probabilities": probabilities}]}
    with pytest.raises(ValueError, match="probabilities"):
        decode_predictions(body, 1)
    client, _ = make_client(lambda r: httpx.Response(200, json=body))
    with pytest.raises(UnexpectedResponseError):
        score_csv(client, csv_of([flower(0)]))


def serve_echo(monkeypatch, requests, fail_from=None):
    """Route the CLI's own httpx.Client through the fake server."""
    handler = echo_handler(requests)

    def maybe_failing(request):
        if fail_from is not None and len(requests) >= fail_from:
            requests.append(request)
            return httpx.Response(500, text="boom")
        return handler(request)

    real = httpx.Client

    def fake_client(*args, **kwargs):
        return real(transport=httpx.MockTransport(maybe_failing))

    monkeypatch.setattr(httpx, "Client", fake_client)


def run_cli(tmp_path, lines, *extra):
    source = tmp_path / "in.csv"
    source.write_text("\n".join([HEADER, *lines]) + "\n")
    out = tmp_path / "out.csv"
    code = main(["--url", "http://127.0.0.1:9", "--retries", "0", "predict", "--csv", str(source),
                 "--out", str(out), "--chunk-size", "2", *extra])  # fmt: skip
    return code, out


def test_cli_writes_the_file_only_when_complete(monkeypatch, tmp_path):
    requests = []
    serve_echo(monkeypatch, requests)
    code, out = run_cli(tmp_path, [flower(i) for i in range(7)])
    assert code == 0 and len(out.read_text().splitlines()) == 8
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]  # no temp left


@pytest.mark.parametrize("failure", ["server fails midway", "a row is invalid"])
def test_cli_leaves_no_file_for_a_failed_server_or_refused_input(
    monkeypatch, tmp_path, capsys, failure
):
    lines = [flower(i) for i in range(9)]
    if failure == "server fails midway":
        serve_echo(monkeypatch, [], fail_from=2)
        expected_code, expected_message = 6, "rows 4-5"
    else:
        serve_echo(monkeypatch, [])
        lines[3] = "5.1,3.5,1.4,NaN"
        expected_code, expected_message = 3, "row 3, column 'petal_width': value is NaN"
    code, _ = run_cli(tmp_path, lines)
    assert code == expected_code and expected_message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no output, no temp file


def test_cli_skip_invalid_streams_every_row_with_its_error(monkeypatch, tmp_path):
    serve_echo(monkeypatch, [])
    lines = [flower(i) for i in range(5)]
    lines[2] = "5.1,3.5,1.4,inf"
    code, out = run_cli(tmp_path, lines, "--skip-invalid")
    rows = out.read_text().splitlines()
    assert code == 3 and len(rows) == 6 and rows[0].endswith(",error")
    assert rows[3].endswith("petal_width: value is +infinity")


def test_cli_writes_into_a_fifo_in_place(monkeypatch, tmp_path):
    serve_echo(monkeypatch, [])
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text()))
    reader.start()
    source = tmp_path / "in.csv"
    source.write_text("\n".join([HEADER, flower(0), flower(1)]) + "\n")
    code = main(
        ["--url", "http://127.0.0.1:9", "predict", "--csv", str(source), "--out", str(pipe)]
    )
    reader.join(10)
    assert code == 0 and len(received[0].splitlines()) == 3
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # written to, not replaced
