"""Scoring tables: CSV and records scored while read, in order, bad rows reported, output safe."""

import csv
import io
import json
import os
import re
import stat
import threading

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iris_ml.contract import SPECIES
from score_client import BadRequestError, TableError, UnexpectedResponseError
from score_client._backends import decode_predictions
from score_client._tables import (
    RESULT_COLUMNS,
    CsvWriter,
    TableScoring,
    score_csv,
    score_records,
    to_csv_text,
    unquoted_csv,
)
from score_client.cli import main
from tests.unit.score_client.test_score_client import echo_handler, make_client

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
    assert [e.line for e in table.errors] == [6, 9]  # the header is line 1
    # Cells stay as read; only a file meant for spreadsheets neutralises formulas.
    assert rows[7]["sepal_length"] == "=cmd|' /C calc'!A0"
    assert "\n=cmd|" in to_csv_text(table)
    assert "\n'=cmd|" in to_csv_text(table, spreadsheet_safe=True)


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
        ("", "the file is empty: expected a comma-separated header naming sepal_length"),
        ("a,b\n1,2\n", 'the header lacks sepal_length, .*; it has "a", "b"'),
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
    # An input column named like an answer column is kept; the answer is renamed.
    assert table.columns == [
        "note",
        "petal_width",
        "sepal_length",
        "sepal_width",
        "petal_length",
        "species",
        "species_scored",
        *RESULT_COLUMNS[1:],
    ]
    assert [r["note"] for r in table.rows] == ["a", "b", "c"]
    assert [r["species"] for r in table.rows] == ["old", "", "old"]
    # Line 4 is short (two features missing); line 5 has a surplus field, which is refused.
    assert [(e.line, e.column) for e in table.errors] == [
        (4, "sepal_width"),
        (4, "petal_length"),
        (5, None),
    ]
    assert "7 fields where the header has 6" in table.errors[2].problem
    assert table.rows[0]["species_scored"] == "setosa" and table.value(0, "species") == "setosa"


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


def test_writer_leaves_out_the_error_column_on_request_and_neutralises_only_when_asked():
    client, _ = make_client(echo_handler([]))
    table = score_csv(client, io.StringIO("=HYPERLINK(1)," + HEADER + "\n-x,5.1,3.5,1.4,0.2\n"))
    for safe, prefix in ((False, ""), (True, "'")):
        out = io.StringIO()
        CsvWriter(out, with_errors=False, spreadsheet_safe=safe)(table.columns, table.cells)
        header, row = out.getvalue().splitlines()
        assert header.startswith(prefix + "=HYPERLINK(1),") and not header.endswith(",error")
        assert row.startswith(prefix + "-x,") and row.split(",")[5] == "setosa"


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
        expected_code, expected_message = 3, "line 5, column 'petal_width': value is NaN"
    code, _ = run_cli(tmp_path, lines)
    assert code == expected_code and expected_message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no output, no temp file


@pytest.mark.parametrize(
    "which", ["input is a folder", "input is missing", "output folder is missing"]
)
def test_a_file_the_cli_cannot_use_is_named_with_the_reason(tmp_path, capsys, which):
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{flower(0)}\n")
    paths = {
        "input is a folder": (tmp_path, tmp_path / "out.csv", "Is a directory"),
        "input is missing": (
            tmp_path / "nope.csv",
            tmp_path / "out.csv",
            "No such file or directory",
        ),
        "output folder is missing": (
            source,
            tmp_path / "no" / "out.csv",
            "No such file or directory",
        ),
    }
    read, written, reason = paths[which]
    code = main(
        ["--url", "http://127.0.0.1:9", "predict", "--csv", str(read), "--out", str(written)]
    )
    named = read if which.startswith("input") else written  # never our temporary file
    assert code == 3 and capsys.readouterr().err == f"score-client: {named}: {reason}\n"


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


def text_stream(data: bytes) -> io.TextIOWrapper:
    """A file's bytes opened as the CLI opens a file: UTF-8, newline=''."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")


PASS_THROUGH = [
    "00123",
    "1e3",
    "007.50",
    "0",
    "  padded  ",
    "=SUM(A1)",
    'a "quoted", one',
    "two\r\nlines",
    "ünïcødé ✓",
    "",
]


def test_pass_through_and_feature_cells_come_back_exactly_as_read():
    client, _ = make_client(echo_handler([]), chunk_size=3)
    rows = [[cell, "5.10", " 3.5", "1.40", "0.2"] for cell in PASS_THROUGH]
    source = io.StringIO()
    csv.writer(source, lineterminator="\r\n").writerows([["id", *HEADER.split(",")], *rows])
    table = score_csv(client, text_stream(source.getvalue().encode()))
    assert table.scored == len(PASS_THROUGH)
    written = list(csv.reader(io.StringIO(to_csv_text(table), newline="")))
    assert [row[:5] for row in written[1:]] == rows  # CSV: every input cell as typed
    records = table.rows
    assert [r["id"] for r in records] == PASS_THROUGH  # JSON: pass-through text untouched
    assert records[0]["sepal_length"] == 5.1 and records[0]["sepal_width"] == 3.5


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n5.1,3.5,1.4,0.2\r\n",  # Excel: CSV UTF-8, CRLF
        b"\xef\xbb\xbf" + HEADER.encode() + b"\n5.1,3.5,1.4,0.2\n",
        b" Sepal_Length , sepal_width,PETAL_LENGTH,petal_width \n5.1,3.5,1.4,0.2",
        b"Sepal Length,Sepal Width,Petal Length,Petal Width\n5.1,3.5,1.4,0.2",
        b"sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2",
        b"Sepal.Length,Sepal.Width,Petal.Length,Petal.Width\n5.1,3.5,1.4,0.2",
    ],
    ids=["bom-crlf", "bom-lf", "spaced-and-cased-header", "words", "sklearn-cm", "r-dots"],
)
def test_excel_and_hand_written_headers_are_read(data):
    client, _ = make_client(echo_handler([]))
    table = score_csv(client, text_stream(data))
    assert table.scored == 1 and not table.errors
    assert not table.columns[0].startswith("\ufeff")
    assert to_csv_text(table).splitlines()[0].split(",")[:4] == data.decode(
        "utf-8-sig"
    ).splitlines()[0].split(",")  # the header as written, without the byte-order mark


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.replace(",", ";").encode() + b"\n5,1;3,5;1,4;0,2\n", "separated by semicolons"),
        (HEADER.encode() + b"\nn\xe9e,3.5,1.4,0.2\n", "not UTF-8 text (it has the byte 0xe9"),
        (HEADER.encode() + b"\n", "a header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8 text"),
        (HEADER.encode("utf-16-le") + b"\n\x00", "the file looks binary or UTF-16"),
        (f"{HEADER}\n5.1,3.5,1.4,0.2\n".encode("utf-16"), "the file is UTF-16 text"),
        (f"{HEADER}\n5.1,3.5,1.4,0.2\n".encode("utf-16-be"), "the file looks binary or UTF-16"),
        (b"\xfe\xff" + HEADER.encode("utf-16-be"), "the file is UTF-16 text"),
        (
            HEADER.encode() + b",Sepal_length\n1,2,3,4,5\n",
            "names sepal_length (columns 1, 5) more than once",
        ),
    ],
    ids=[
        "empty",
        "semicolons",
        "latin-1",
        "header-only",
        "binary",
        "utf-16",
        "utf-16-bom-le",
        "utf-16-no-bom-be",
        "utf-16-bom-be",
        "duplicate",
    ],
)
def test_files_we_cannot_read_get_one_clear_sentence(data, message):
    client, _ = make_client(echo_handler([]))
    with pytest.raises(TableError, match=re.escape(message)) as info:
        score_csv(client, text_stream(data))
    text = str(info.value)
    assert "\n" not in text and "['" not in text and "Traceback" not in text


@pytest.mark.parametrize("typed", ["1_0", "5,1", "0x10", "five"])
def test_a_feature_cell_is_a_plain_number_or_refused(typed):
    client, _ = make_client(echo_handler([]))
    table = score_csv(client, csv_of([f'"{typed}",3.5,1.4,0.2']))
    assert table.scored == 0 and table.errors[0].column == "sepal_length"
    assert table.rows[0]["sepal_length"] == typed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=8))
def test_any_pass_through_text_survives_a_round_trip(cells):
    client, _ = make_client(echo_handler([]), chunk_size=3)
    # Text as a CSV file can hold it: no NUL, and no lone carriage return (the csv module
    # reads a bare CR as a line break, as spreadsheets do).
    cells = [c.replace("\x00", "").replace("\r", "") for c in cells]
    source = io.StringIO()
    csv.writer(source, lineterminator="\n").writerows(
        [["note", *HEADER.split(",")], *[[c, "5.1", "3.5", "1.4", "0.2"] for c in cells]]
    )
    table = score_csv(client, text_stream(source.getvalue().encode("utf-8", "surrogatepass")))
    written = list(csv.reader(io.StringIO(to_csv_text(table), newline="")))
    assert [row[0] for row in written[1:]] == cells


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_cli_progress_shows_rows_speed_and_time_left_on_a_terminal_only(tmp_path):
    from score_client.cli import _Progress

    source = tmp_path / "in.csv"
    source.write_text(HEADER + "\n" + "5.1,3.5,1.4,0.2\n" * 5000)
    with open(source, newline="", encoding="utf-8") as stream:
        stream.readline()
        stream.read(len(HEADER) * 10)  # part of the file read
        terminal = _Terminal()
        progress = _Progress(terminal, stream)
        progress(1000, None)
        progress(5000, 5000)
        silent = io.StringIO()
        _Progress(silent, stream)(1000, None)
    first, last = terminal.getvalue().split("\r")[1:]
    assert re.fullmatch(
        r"\x1b\[K1,000 rows scored, [\d,]+ rows/s, \d+% read, about \d+ s left", first
    )
    assert re.fullmatch(r"\x1b\[K5,000 rows scored, [\d,]+ rows/s, done in [\d.]+ s\n", last)
    assert silent.getvalue() == ""  # not a terminal: nothing on stderr


def test_json_rows_keep_their_other_keys_in_every_output_format(monkeypatch, tmp_path, capsys):
    serve_echo(monkeypatch, [])
    source = tmp_path / "rows.json"
    flower_row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    source.write_text(json.dumps([{"id": "00123", **flower_row, "note": "1e3"}]))
    for fmt in ("json", "csv", "table"):
        code = main(
            ["--url", "http://127.0.0.1:9", "predict", "--json", str(source), "--format", fmt]
        )
        out = capsys.readouterr().out
        assert code == 0 and "00123" in out and "1e3" in out, (fmt, out)
    code = main(
        ["--url", "http://127.0.0.1:9", "predict", "--json", str(source), "--format", "json"]
    )
    [row] = json.loads(capsys.readouterr().out)
    assert list(row)[:6] == ["id", *flower_row, "note"] and row["id"] == "00123"


@pytest.mark.parametrize("typed", ["nan", "inf", "1e3", "-0"])
def test_a_refused_feature_keeps_its_text_in_json_output(monkeypatch, tmp_path, capsys, typed):
    """Only scored rows have numbers to show; a refused cell is shown as typed (and JSON stays
    valid: no NaN or Infinity literals)."""
    serve_echo(monkeypatch, [])
    source = tmp_path / "in.csv"
    source.write_text(f"{HEADER}\n{typed},3.5,1.4,0.2\n5.10,3.5,1.4,0.2\n")
    argv = ["--url", "http://127.0.0.1:9", "predict", "--csv", str(source), "--skip-invalid"]
    assert main([*argv, "--format", "json"]) == 3
    out = capsys.readouterr().out
    refused, scored = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert refused["sepal_length"] == typed and refused["species"] == ""
    assert scored["sepal_length"] == 5.1 and scored["species"] == "setosa"


CELL = st.text(alphabet=st.sampled_from('ab1.,"\r\n -=\u00e9'), max_size=4)


@given(st.lists(st.lists(CELL, min_size=1, max_size=5), max_size=6))
def test_rows_joined_in_c_are_what_the_csv_writer_writes_or_left_to_it(rows):
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerows(rows)
    text = unquoted_csv(rows)
    assert text is None or text == written.getvalue()


def test_plain_rows_are_joined_and_rows_needing_quotes_or_numbers_are_not():
    assert unquoted_csv([["5.1", "x", ""], ["a", "b", "c"]]) == "5.1,x,\na,b,c\n"
    assert unquoted_csv([["a,b", "c"]]) is None
    assert unquoted_csv([["a", 'say "hi"']]) is None
    assert unquoted_csv([["a", "two\nlines"]]) is None
    assert unquoted_csv([["a", 5.1]]) is None


def answers_for(block):
    """What decode_predictions hands back for a block: one checked answer per row."""
    return [
        {"species": "setosa", "probabilities": {s: 1 / 3 for s in SPECIES}, "model_version": "7"}
        for _ in block[0]
    ]


def test_table_scoring_sends_valid_rows_and_hands_rows_over_in_input_order():
    handed = []
    table = TableScoring(["id"], on_rows=lambda columns, rows: handed.extend(r[0] for r in rows))
    good, bad = [5.1, 3.5, 1.4, 0.2], [5.1, 3.5, -1.0, 0.2]
    rows = [(["a"], good, 2), (["b"], bad, 3), (["c"], good, 4)]
    blocks = list(table.blocks(rows, size=2))
    assert [span for _, span in blocks] == [(0, 1), (2, 3)]  # the bad row is never sent
    assert [e.row for e in table.errors] == [1] and table.errors[0].line == 3
    table.answer(answers_for(blocks[0]))
    assert handed == ["a"]  # "b", refused, is handed over with the next answer
    table.answer(answers_for(blocks[1]))
    result = table.finish()
    assert handed == ["a", "b", "c"] and result.scored == 2
    assert [row[1] for row in result.cells] == ["setosa", "", "setosa"]
    assert result.columns[:2] == ["id", "species"] and result.cells[2][-2:] == ["7", ""]


def test_table_scoring_stops_sending_after_the_first_bad_row_when_asked():
    table = TableScoring(["id"], stop_at_first_error=True)
    good, bad = [5.1, 3.5, 1.4, 0.2], "expected an object"
    blocks = list(table.blocks([(["a"], bad, None), (["b"], good, None)], size=1))
    result = table.finish()
    assert blocks == [] and result.scored == 0
    assert all(len(row) == len(result.columns) for row in result.cells)
    assert result.cells[0][-1] == "expected an object" and result.cells[1][1:] == [""] * 6


def test_a_header_in_another_unit_names_no_feature():
    # Millimetres are not centimetres: never matched, never converted.
    client, _ = make_client(echo_handler([]))
    data = b"sepal length (mm),sepal width,petal length,petal width\n51,3.5,1.4,0.2\n"
    with pytest.raises(TableError, match="sepal_length"):
        score_csv(client, text_stream(data))
