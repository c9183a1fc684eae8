"""The launched Gradio app against the real served champion: gradio_client and a real browser."""

from __future__ import annotations

import re

import pytest

from iris_ml.contract import FEATURE_NAMES, FEATURES, SPECIES, describe_value_problem
from tests import procs
from tests.ui_support import launched_ui, screenshot

pytestmark = pytest.mark.integration

VIRGINICA = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}


def write_csv(path):
    path.write_text(
        ",".join(FEATURE_NAMES)
        + "\n5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n5.0,abc,1.4,0.2\n7.0,3.2,4.7,1.4\n"
    )
    return path


@pytest.fixture
def ui_url(served_champion, tmp_path):
    with launched_ui(served_champion.base_url, tmp_path) as url:
        yield url


def test_gradio_client_single_prediction_and_status(ui_url):
    from gradio_client import Client

    client = Client(ui_url, verbose=False)
    label, detail, problem = client.predict(*VIRGINICA.values(), api_name="/predict")
    assert label["label"] == "virginica" and problem == ""
    assert {c["label"] for c in label["confidences"]} == set(SPECIES)
    assert "(model version 1)" in detail
    assert "is **up**: model version 1" in client.predict(api_name="/status")


def test_gradio_client_batch_csv_with_one_bad_row(ui_url, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(ui_url, verbose=False)
    table, picture, download, summary = client.predict(
        handle_file(str(write_csv(tmp_path / "in.csv"))), api_name="/score_csv"
    )
    assert summary.startswith(
        "Scored 3 of 4 row(s). setosa: 1, versicolor: 1, virginica: 1. 1 row(s) not scored:\n"
        "- line 4: sepal_width: expected a number"
    )
    species = [row[table["headers"].index("species")] for row in table["data"]]
    assert species == ["setosa", "virginica", "not scored", "versicolor"]
    assert picture is not None
    with open(download) as f:
        assert f.readline().startswith(
            "sepal_length,sepal_width,petal_length,petal_width,species,proba_setosa"
        )


def test_gradio_client_invalid_value_is_refused_and_the_app_keeps_working(ui_url):
    from gradio_client import Client

    client = Client(ui_url, verbose=False)
    label, detail, problem = client.predict(-1.0, 3.5, 1.4, 0.2, api_name="/predict")
    assert "Sepal length: must be greater than 0 cm, got -1." in problem
    assert detail == "" and not (label or {}).get("label")
    label, _, problem = client.predict(5.1, 3.5, 1.4, 0.2, api_name="/predict")
    assert label["label"] == "setosa" and problem == ""


@pytest.mark.browser
def test_browser_sets_four_values_clicks_predict_and_reads_the_answer(browser, ui_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(ui_url)
    page.wait_for_selector("#predict")
    for name, value in VIRGINICA.items():
        box = page.locator(f"#{name} input[type='number']")
        box.fill(str(value))
        box.press("Enter")
    page.click("#predict")
    page.wait_for_function("document.querySelector('#detail')?.innerText.includes('model version')")
    detail = page.locator("#detail").inner_text()
    assert re.search(r"virginica with probability \d+\.\d% \(model version 1\)", detail), detail
    label_text = page.locator("#label").inner_text()
    assert all(s in label_text for s in SPECIES) and "%" in label_text
    assert "is up: model version 1" in page.locator("#status").inner_text()
    assert screenshot(page, "ui-single.png", tmp_path).stat().st_size > 10_000


@pytest.mark.browser
def test_browser_uploads_a_csv_and_reads_the_scored_table(browser, ui_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(ui_url)
    page.get_by_role("tab", name="CSV of flowers").click()
    # As Excel saves "CSV UTF-8": a byte-order mark and CRLF line ends, plus an ID column.
    source = tmp_path / "excel.csv"
    source.write_bytes(
        b"\xef\xbb\xbfid," + ",".join(FEATURE_NAMES).encode() + b"\r\n"
        b"00123,5.1,3.5,1.4,0.2\r\n00124,6.3,3.3,6.0,2.5\r\n00125,5.0,abc,1.4,0.2\r\n"
        b"00126,7.0,3.2,4.7,1.4\r\n"
    )
    page.locator("#upload input[type='file']").set_input_files(str(source))
    page.wait_for_function(
        "document.querySelector('#summary')?.innerText.includes('Scored')", timeout=30_000
    )
    assert "Scored 3 of 4 row(s)" in page.locator("#summary").inner_text()
    assert "line 4: sepal_width" in page.locator("#summary").inner_text()
    table = page.locator("#scored").inner_text()
    for text in (*SPECIES, "00123", "00126", "not scored"):
        assert text in table
    page.locator("#picture canvas, #picture svg").first.wait_for(timeout=15_000)
    screenshot(page, "ui-batch.png", tmp_path)


@pytest.mark.browser
def test_browser_shows_a_readable_error_when_the_endpoint_is_down(browser, tmp_path):
    down = f"http://127.0.0.1:{procs.free_port()}"
    with launched_ui(down, tmp_path) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("document.querySelector('#status')?.innerText.includes('down')")
        page.click("#predict")
        toast = page.locator("[data-testid='toast-body']").first
        toast.wait_for(timeout=15_000)
        assert "unreachable" in toast.inner_text()
        assert "Traceback" not in page.content()


BAD_TYPED_VALUES = ("0", "50", "-3", "")


@pytest.mark.browser
def test_browser_refuses_typed_values_out_of_range_and_never_invents_a_flower(browser, ui_url):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(ui_url)
    page.wait_for_selector("#predict")
    boxes = {n: page.locator(f"#{n} input[type='number']") for n in FEATURE_NAMES}

    def predict(values: dict[str, str], expect: str) -> tuple[str, str]:
        for name, text in values.items():
            boxes[name].fill(text)
        page.click("#predict")
        # Wait for this answer's own text: the one before may still be on the page.
        page.wait_for_function(
            "([expect]) => document.querySelector('#input-problem')?.innerText.includes(expect)"
            " || document.querySelector('#detail')?.innerText.includes(expect)",
            arg=[expect],
        )
        return page.locator("#input-problem").inner_text(), page.locator("#detail").inner_text()

    valid = {name: str(value) for name, value in VIRGINICA.items()}
    for feature in FEATURES:
        for typed in BAD_TYPED_VALUES:
            reason = (
                describe_value_problem(feature.name, float(typed)) if typed else "enter a value"
            )
            problem, detail = predict({**valid, feature.name: typed}, f"{feature.label}: {reason}.")
            assert "Not scored." in problem and problem.count(": ") == 1, problem
            assert "probability" not in detail
            assert not any(s in page.locator("#label").inner_text() for s in SPECIES)
            # the box still shows what was typed: nothing was snapped into range
            assert boxes[feature.name].input_value() == typed
    problem, detail = predict(valid, "model version")
    assert "Not scored" not in problem and "virginica" in detail
