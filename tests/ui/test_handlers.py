"""The UI's handlers, called directly with a score_client on a fake transport."""

import json

import gradio as gr
import httpx
import pytest

from iris_ml.contract import FEATURE_NAMES
from iris_ml_ui import UISettings
from iris_ml_ui.app import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_ROWS,
    VIEW_ROWS,
    batch_picture,
    batch_view,
    percent,
    predict_one,
    score_file,
    status_text,
)
from score_client import ScoringClient

ROW = [5.1, 3.5, 1.4, 0.2]


def fake_client(handler):
    return ScoringClient(
        "http://127.0.0.1:5001",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=lambda s: None,
        max_retries=0,
    )


def answering(request):
    n = len(json.loads(request.content)["dataframe_split"]["data"])
    row = {
        "species": "setosa",
        "probabilities": {"setosa": 0.9, "versicolor": 0.07, "virginica": 0.03},
        "model_version": "2",
    }
    return httpx.Response(200, json={"predictions": [row] * n})


def refusing(request):
    raise httpx.ConnectError("refused", request=request)


def test_predict_one_valid():
    result = predict_one(fake_client(answering), *ROW)
    assert result.label == {"setosa": 0.9, "versicolor": 0.07, "virginica": 0.03}
    assert result.detail == "**setosa** with probability 90.0% (model version 2)"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([None, 3.5, 1.4, 0.2], "Sepal length: enter a value."),
        ([5.1, 3.5, 1.4, 0.0], "Petal width: must be greater than 0 cm, got 0."),
        ([5.1, 3.5, 50.0, 0.2], "Petal length: must be at most 20 cm, got 50."),
        ([5.1, -3.0, 1.4, 0.2], "Sepal width: must be greater than 0 cm, got -3."),
    ],
)
def test_predict_one_refuses_what_the_contract_refuses_and_sends_nothing(values, message):
    sent = []
    result = predict_one(fake_client(lambda r: (sent.append(r), answering(r))[1]), *values)
    assert result.label is None and result.detail == "" and message in result.problem
    assert sent == []  # no flower was invented in its place


def test_predict_one_sends_the_typed_values_unchanged():
    sent = []
    predict_one(fake_client(lambda r: (sent.append(r), answering(r))[1]), 0.05, 9.99, 20.0, 10.0)
    assert json.loads(sent[0].content)["dataframe_split"]["data"] == [[0.05, 9.99, 20.0, 10.0]]


def test_predict_one_endpoint_down_and_server_rejection():
    with pytest.raises(gr.Error, match="unreachable"):
        predict_one(fake_client(refusing), *ROW)
    rejecting = fake_client(lambda r: httpx.Response(400, json={"message": "Invalid input: nope"}))
    with pytest.raises(gr.Error, match="rejected the request: Invalid input: nope"):
        predict_one(rejecting, *ROW)


def test_score_file_scores_good_rows_and_reports_bad_lines(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        'petal_width,sepal_length,sepal_width,petal_length,note\n0.2,5.1,3.5,1.4,=HYPERLINK("x")\n0.2,-5,3.5,1.4,b\n'
    )
    table, written, summary = score_file(fake_client(answering), str(src), tmp_path / "out")
    assert table.scored == 1
    assert summary == (
        "Scored 1 of 2 row(s). setosa: 1, versicolor: 0, virginica: 0. 1 row(s) not scored:\n"
        "- line 3: sepal_length: must be greater than 0 cm, got -5"
    )
    text = written.read_text()
    assert "'=HYPERLINK" in text  # neutralised for spreadsheets
    assert (
        text.splitlines()[0]
        == "petal_width,sepal_length,sepal_width,petal_length,note,species,proba_setosa,proba_versicolor,proba_virginica,model_version,error"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "Cannot read the CSV: the file is empty"),
        ("sepal_length,sepal_width,petal_length,petal_width\n", "header but no rows"),
        (
            "a,b\n1,2\n",
            'the header lacks sepal_length, sepal_width, petal_length, petal_width; it has "a", "b"',
        ),
    ],
)
def test_score_file_refuses_unusable_files(tmp_path, content, message):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    with pytest.raises(gr.Error) as info:
        score_file(fake_client(answering), str(src), tmp_path)
    assert message in str(info.value.message)
    assert (
        info.value.print_exception is False
    )  # the page shows it; the terminal prints no traceback


def test_score_file_refuses_non_utf8_and_oversized_files(tmp_path):
    src = tmp_path / "latin1.csv"
    src.write_bytes(
        "sepal_length,sepal_width,petal_length,petal_width\n5,3,1,0.2 \xe9\n".encode("latin-1")
    )
    with pytest.raises(gr.Error, match="not UTF-8"):
        score_file(fake_client(answering), str(src), tmp_path)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(gr.Error, match="the limit is 5 MB"):
        score_file(fake_client(answering), str(big), tmp_path)
    with pytest.raises(gr.Error, match="Upload a CSV"):
        score_file(fake_client(answering), None, tmp_path)


def test_score_file_endpoint_down(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    with pytest.raises(gr.Error, match="unreachable"):
        score_file(fake_client(refusing), str(src), tmp_path)


def test_status_text_up_and_down():
    assert "is **up**: model version 2" in status_text(fake_client(answering))
    assert "is **down**" in status_text(fake_client(refusing))


def test_status_never_shows_the_key(monkeypatch):
    monkeypatch.setenv("SCORING_KEY", "very-secret-key-123")
    client = ScoringClient(
        "https://u:p@ep.westeurope.inference.ml.azure.com/score?code=abc",
        http_client=httpx.Client(transport=httpx.MockTransport(refusing)),
        max_retries=0,
    )
    text = status_text(client)
    assert "very-secret-key-123" not in text and "code=abc" not in text and "u:p" not in text


def test_default_settings_bind_to_loopback():
    assert UISettings(scoring_uri="http://x").host == "127.0.0.1"


def test_the_batch_view_puts_answers_first_shades_bad_rows_and_keeps_cells(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(
        b"\xef\xbb\xbfid,sepal_length,sepal_width,petal_length,petal_width\r\n"
        b"00123,5.1,3.5,1.4,0.2\r\n007.50,5.1,x,1.4,0.2\r\n"
    )
    table, _, _ = score_file(fake_client(answering), str(src), tmp_path / "out")
    frame = batch_view(table).data
    assert list(frame.columns) == ["species", "probability", "problem", "id", *FEATURE_NAMES]
    assert frame.iloc[0].tolist() == ["setosa", "90.0%", "", "00123", "5.1", "3.5", "1.4", "0.2"]
    assert frame.iloc[1, :4].tolist() == [
        "not scored",
        "",
        "sepal_width: expected a number in cm, got 'x'",
        "007.50",
    ]
    styles = batch_view(table).to_html().split("</style>")[0]
    assert "background-color: #fde2e1" in styles
    assert "_row1_col0" in styles and "_row0_col" not in styles  # only the bad row is shaded


def test_the_batch_picture_is_the_scored_flowers_over_fishers(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "petal_width,petal_length,sepal_length,sepal_width\n0.25,1.45,5.1,3.5\n1,x,5,3\n"
    )
    table, _, _ = score_file(fake_client(answering), str(src), tmp_path / "out")
    points = batch_picture(table)
    assert (points["species"] == "Fisher's flowers").sum() == 150
    assert points[points["species"] == "setosa"].values.tolist() == [[1.45, 0.25, "setosa"]]


@pytest.mark.parametrize(
    ("probability", "text"),
    [(0.0, "0.0%"), (0.0004, "<0.1%"), (0.973, "97.3%"), (0.99996, ">99.9%"), (1.0, "100.0%")],
)
def test_percentages_never_round_to_a_false_zero_or_hundred(probability, text):
    assert percent(probability) == text


def test_a_full_size_upload_renders_on_the_page(tmp_path):
    """50,000 rows: the page shows the first VIEW_ROWS (pandas stops styling past 262,144
    cells, which Gradio's table then fails on); the summary and the download cover all."""
    src = tmp_path / "big.csv"
    rows = "".join(f"{i:05d},5.1,3.5,1.4,0.2\n" for i in range(MAX_UPLOAD_ROWS - 1))
    src.write_text("id," + ",".join(FEATURE_NAMES) + "\n" + rows + "last,5.1,x,1.4,0.2\n")
    table, written, summary = score_file(fake_client(answering), str(src), tmp_path / "out")
    shown = gr.Dataframe(interactive=False).postprocess(batch_view(table))
    assert len(shown.data) == VIEW_ROWS and shown.data[0][3] == "00000"
    assert f"Scored {MAX_UPLOAD_ROWS - 1} of {MAX_UPLOAD_ROWS} row(s)" in summary
    assert "the download has every row" in summary and f"line {MAX_UPLOAD_ROWS + 1}:" in summary
    assert len(written.read_text().splitlines()) == MAX_UPLOAD_ROWS + 1


@pytest.mark.parametrize(
    "header",
    [
        "Sepal Length,Sepal Width,Petal Length,Petal Width",
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)",
    ],
)
def test_the_page_reads_the_headers_score_client_reads(tmp_path, header):
    # docs/ui.md says so: words, R's and scikit-learn's spellings; the header comes back as written.
    src = tmp_path / "in.csv"
    src.write_text(f"{header}\n5.1,3.5,1.4,0.2\n")
    table, written, _ = score_file(fake_client(answering), str(src), tmp_path / "out")
    assert table.scored == 1
    assert written.read_text().splitlines()[0].startswith(header + ",")
