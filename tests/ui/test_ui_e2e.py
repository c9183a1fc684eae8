"""The launched Gradio app against the real served champion: gradio_client and a real browser."""

from __future__ import annotations

import re

import pytest

from iris_ml.contract import FEATURE_NAMES, SPECIES
from tests import procs
from tests.ui_support import CHROMIUM_ARGS, chromium_path, launched_ui

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
    label, detail = client.predict(*VIRGINICA.values(), api_name="/predict")
    assert label["label"] == "virginica"
    assert {c["label"] for c in label["confidences"]} == set(SPECIES)
    assert "(model version 1)" in detail
    assert "is **up**: model version 1" in client.predict(api_name="/status")


def test_gradio_client_batch_csv_with_one_bad_row(ui_url, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(ui_url, verbose=False)
    table, download, summary = client.predict(
        handle_file(str(write_csv(tmp_path / "in.csv"))), api_name="/score_csv"
    )
    assert summary.startswith(
        "Scored 3 of 4 row(s). 1 row(s) not scored:\n- line 4: sepal_width: expected a number"
    )
    species = [row[table["headers"].index("species")] for row in table["value"]["data"]]
    assert species == ["setosa", "virginica", "", "versicolor"]
    with open(download) as f:
        assert f.readline().startswith(
            "sepal_length,sepal_width,petal_length,petal_width,species,proba_setosa"
        )


def test_gradio_client_invalid_value_is_an_app_error_and_the_app_keeps_working(ui_url):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(ui_url, verbose=False)
    with pytest.raises(AppError, match="less than minimum"):
        client.predict(-1.0, 3.5, 1.4, 0.2, api_name="/predict")
    label, _ = client.predict(5.1, 3.5, 1.4, 0.2, api_name="/predict")
    assert label["label"] == "setosa"


@pytest.fixture
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.browser
def test_browser_sets_four_values_clicks_predict_and_reads_the_answer(browser, ui_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(ui_url)
    page.wait_for_selector("#predict")
    for name, value in VIRGINICA.items():
        box = page.locator(f"#{name} input[data-testid='number-input']")
        box.fill(str(value))
        box.press("Enter")
    page.click("#predict")
    page.wait_for_function("document.querySelector('#detail')?.innerText.includes('model version')")
    detail = page.locator("#detail").inner_text()
    assert re.search(r"virginica with probability \d+\.\d% \(model version 1\)", detail), detail
    label_text = page.locator("#label").inner_text()
    assert all(s in label_text for s in SPECIES) and "%" in label_text
    assert "is up: model version 1" in page.locator("#status").inner_text()
    page.screenshot(path=str(tmp_path / "ui-single.png"), full_page=True)
    assert (tmp_path / "ui-single.png").stat().st_size > 10_000


@pytest.mark.browser
def test_browser_uploads_a_csv_and_reads_the_scored_table(browser, ui_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(ui_url)
    page.get_by_role("tab", name="CSV of flowers").click()
    page.locator("#upload input[type='file']").set_input_files(str(write_csv(tmp_path / "in.csv")))
    page.wait_for_function(
        "document.querySelector('#summary')?.innerText.includes('Scored')", timeout=30_000
    )
    assert "Scored 3 of 4 row(s)" in page.locator("#summary").inner_text()
    assert "line 4: sepal_width" in page.locator("#summary").inner_text()
    table = page.locator("#scored").inner_text()
    for species in SPECIES:
        assert species in table
    page.screenshot(path=str(tmp_path / "ui-batch.png"), full_page=True)


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
