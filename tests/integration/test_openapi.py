"""The OpenAPI document on a real server: served as built, fuzzed by schemathesis, shown offline.

schemathesis (not our code) generates requests from the live /openapi.json, valid and
invalid, and checks every answer: no 5xx, only documented statuses, bodies matching their
schema. /docs is opened in Chromium with every request off this server refused, so a CDN
link would leave the page empty.
"""

from __future__ import annotations

import re
import subprocess

import httpx
import pytest

from iris_ml.serving import openapi
from tests import procs

pytestmark = pytest.mark.integration

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"


def operation_count() -> int:
    paths = openapi.document()["paths"].values()
    return sum(len(item) - ("parameters" in item) for item in paths)  # methods, not parameters


def test_the_live_document_is_the_one_built_from_the_contract(served_champion):
    answer = httpx.get(served_champion.base_url + "/openapi.json", timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == openapi.document()


def test_schemathesis_finds_no_server_error_undocumented_status_or_schema_mismatch(
    served_champion, tmp_path
):
    command = [str(procs.BIN / "schemathesis"), "run", served_champion.base_url + "/openapi.json",
               "--checks", CHECKS, "--max-examples", "40", "--seed", "1", "--no-color"]  # fmt: skip
    # cwd: schemathesis keeps its replay files in ./.schemathesis, never in the repo.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=540)
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary
    generated = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert generated and generated[1] == generated[2] and int(generated[1]) > 500, summary
    tested = re.search(r"Tested:\s+(\d+)", summary)
    # Every operation but GET /openapi.json, which schemathesis leaves out as the schema's
    # own URL (it counts 16 with --include-path /openapi.json); the first test checks it.
    assert tested and int(tested[1]) == operation_count() - 1, summary


@pytest.mark.browser
def test_the_docs_page_renders_every_operation_without_the_network(served_champion, browser):
    base = served_champion.base_url
    elsewhere: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(base + "/"):
            return route.continue_()
        elsewhere.append(route.request.url)
        return route.abort()

    page = browser.new_page()
    page.route("**/*", only_this_server)
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock-summary")
    page.wait_for_function(f"document.querySelectorAll('.opblock').length == {operation_count()}")
    assert "iris-ml scoring server" in page.locator(".info .title").inner_text()
    assert elsewhere == []
