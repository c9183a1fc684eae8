"""The fast path answers what MLflow's handler answers: a differential test on real servers.

Two project servers on the same champion: the default one, whose layer answers plain
requests itself (``iris_ml/serving/fast_path.py``), and one started with ``--mlflow-handler-only``.
Every payload of the serving tests, every hostile-corpus entry and the edge cases of a
plain request below go to both: the same status and the same JSON after parsing. Every
successful answer also equals what plain ``mlflow models serve`` answers on the same model.
The fast server's request log names who answered, so a fast path that never runs fails.
"""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest

from iris_ml.contract import FEATURE_NAMES, FEATURES, MAX_ROWS_PER_REQUEST
from tests import procs
from tests.integration.test_hostile_corpus import ENTRIES, body_of
from tests.integration.test_serving import BAD_REQUESTS, GOOD_REQUESTS, SETOSA, record

pytestmark = pytest.mark.integration

NAMES = list(FEATURE_NAMES)
MAXIMA = [f.maximum for f in FEATURES]
JSON = "application/json"


def split(rows, columns=NAMES, **extra) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows, **extra}}).encode()


def raw_split(data: bytes) -> bytes:
    """A split table whose data is written as given (JSON that json.dumps would not write)."""
    return b'{"dataframe_split": {"columns": ' + json.dumps(NAMES).encode() + b", " + data + b"}}"


def with_top_level(**keys) -> bytes:
    table = {"columns": NAMES, "data": [SETOSA]}
    return json.dumps({"dataframe_split": table, **keys}).encode()


def records(rows) -> bytes:
    return json.dumps({"dataframe_records": rows}).encode()


def random_rows(count: int, seed: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, MAXIMA, (count, len(NAMES))).round(4).tolist()


# (name, content type, body): requests the layer must answer itself.
PLAIN = [
    ("split", JSON, split([SETOSA, [6.9, 3.1, 5.4, 2.3]])),
    ("records", JSON, records([record(SETOSA), record([6.3, 3.3, 6.0, 2.5])])),
    ("columns in another order", JSON, split([SETOSA[::-1]], NAMES[::-1])),
    ("records with keys in another order", JSON, records([dict(reversed(record(SETOSA).items()))])),
    ("integer cells", JSON, split([[5, 3, 1, 1], [7, 3, 6, 2]])),
    ("integers and floats in one column", JSON, split([[5, 3.5, 1.4, 0.2], [6.5, 3, 5, 2]])),
    ("the largest valid values", JSON, split([MAXIMA])),
    ("tiny positive values", JSON, split([[1e-300, 5e-324, 1e-10, 0.001]])),
    ("exponent notation", JSON, raw_split(b'"data": [[5.1E0, 35e-1, 0.14e1, 2E-1]]')),
    (
        "a key twice: the last counts, as in json.loads",
        JSON,
        raw_split(b'"data": [[1, 1, 1, 1]], "data": [[5.1, 3.5, 1.4, 0.2]]'),
    ),
    ("charset parameter", "application/json; charset=UTF-8", split([SETOSA])),
    ("10,000 random rows", JSON, split(random_rows(10_000))),
    ("records of 2,000 random rows", JSON, records([record(r) for r in random_rows(2_000, 1)])),
    ("the row limit", JSON, split(random_rows(1, 2) * MAX_ROWS_PER_REQUEST)),
]

# (name, content type, body): near misses that MLflow's handler must answer (or refuse).
NOT_PLAIN = [
    ("one row past the limit", JSON, split([SETOSA] * (MAX_ROWS_PER_REQUEST + 1))),
    ("an index", JSON, split([SETOSA, SETOSA], index=[7, 8])),
    ("a bad index", JSON, split([SETOSA, SETOSA], index=[7])),
    ("no columns", JSON, json.dumps({"dataframe_split": {"data": [SETOSA]}}).encode()),
    ("a column twice", JSON, split([[5.1, 3.5, 1.4, 0.2, 0.3]], [*NAMES, NAMES[0]])),
    ("an extra column", JSON, split([[*SETOSA, 1.0]], [*NAMES, "colour"])),
    ("records with an extra key", JSON, records([{**record(SETOSA), "colour": 1}])),
    ("a numeric string", JSON, split([[5.1, "3.5", 1.4, 0.2]])),
    ("a null", JSON, split([[5.1, None, 1.4, 0.2]])),
    ("a ragged row", JSON, split([SETOSA, [5.1, 3.5, 1.4]])),
    ("a nested row", JSON, split([[[5.1], 3.5, 1.4, 0.2]])),
    ("params", JSON, with_top_level(params={"x": 1})),
    ("an unknown top-level key", JSON, with_top_level(note="hi")),
    ("negative zero", JSON, split([[5.1, -0.0, 1.4, 0.2]])),
    ("a value past the maximum", JSON, split([[MAXIMA[0] + 1e-9, 3.5, 1.4, 0.2]])),
    ("an integer past 64 bits", JSON, split([[2**64 + 1, 3.5, 1.4, 0.2]])),
    ("an integer past 63 bits", JSON, split([[2**63 + 1, 3.5, 1.4, 0.2]])),
    ("NaN", JSON, split([[5.1, float("nan"), 1.4, 0.2]])),
    ("a byte-order mark", JSON, b"\xef\xbb\xbf" + split([SETOSA])),
    ("a capitalised content type", "Application/JSON", split([SETOSA])),
    ("an unknown content-type parameter", "application/json; format=split", split([SETOSA])),
]


def _cases() -> list[tuple[str, str | None, bytes, str]]:
    """(name, content type, body, who must answer: fast_path, not_fast_path or any)."""
    cases = [(f"plain: {n}", c, b, "fast_path") for n, c, b in PLAIN]
    cases += [(f"near miss: {n}", c, b, "not_fast_path") for n, c, b in NOT_PLAIN]
    for name, (headers, body) in GOOD_REQUESTS.items():
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        cases.append((f"serving test: {name}", headers["Content-Type"], content, "any"))
    for name, ctype, body, *_ in BAD_REQUESTS:
        cases.append((f"serving test: {name}", ctype, body.encode(), "not_fast_path"))
    for entry in ENTRIES:
        who = "any" if entry["expect"]["serve"] == 200 else "not_fast_path"
        cases.append((f"corpus: {entry['name']}", entry["content_type"], body_of(entry), who))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def fast_and_reference(trained_store, tmp_path_factory):
    """(fast server, reference server) base URLs and the fast one's process (its request log)."""
    logs = tmp_path_factory.mktemp("fast-path")
    uri = trained_store.tracking_uri
    # Some of MLflow's messages print a set, in an order that follows the string hash seed.
    same = {"PYTHONHASHSEED": "0"}
    fast, fast_url = procs.serve(uri, logs, "--workers", "1", "--log-requests", env=same)
    try:
        reference, reference_url = procs.serve(
            uri, logs, "--workers", "1", "--mlflow-handler-only", env=same
        )
        try:
            yield fast_url, reference_url, fast
        finally:
            reference.stop()
    finally:
        fast.stop()


def post(base_url: str, ctype: str | None, body: bytes, rid: str) -> httpx.Response:
    request = httpx.Request("POST", base_url + "/invocations", content=body)
    request.headers.pop("Content-Type", None)
    if ctype is not None:
        request.headers["Content-Type"] = ctype
    request.headers["X-Request-ID"] = rid
    with httpx.Client(timeout=120) as client:
        return client.send(request)


def answered_by(proc: procs.Proc, rid: str) -> str:
    """Who answered the request with this id, from the fast server's request log."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in proc.output().splitlines():
            if line.startswith("{") and f'"request_id": "{rid}"' in line:
                return json.loads(line)["answered_by"]
        time.sleep(0.05)
    raise AssertionError(f"no request-log line for {rid}")


def without_versions(answer: dict) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "model_version"} for p in answer["predictions"]]


@pytest.mark.parametrize(("name", "ctype", "body", "who"), CASES, ids=[c[0] for c in CASES])
def test_the_same_status_and_json_as_mlflows_handler(
    fast_and_reference, plain_mlflow_server, name, ctype, body, who
):
    fast_url, reference_url, fast_proc = fast_and_reference
    rid = f"diff-{CASES.index((name, ctype, body, who))}"
    ours = post(fast_url, ctype, body, rid)
    reference = post(reference_url, ctype, body, rid)
    assert ours.status_code == reference.status_code, (ours.text[:300], reference.text[:300])
    assert ours.json() == reference.json()
    answerer = answered_by(fast_proc, rid)
    if who == "fast_path":
        assert ours.status_code == 200 and answerer == "fast_path", ours.text[:300]
    elif who == "not_fast_path":
        assert answerer != "fast_path"
    if ours.status_code == 200:
        assert {p["model_version"] for p in ours.json()["predictions"]} == {"1"}
        mlflow = post(plain_mlflow_server, ctype, body, rid)
        assert mlflow.status_code == 200
        assert without_versions(ours.json()) == without_versions(mlflow.json())


def test_the_cases_cover_both_paths():
    whos = [c[3] for c in CASES]
    assert whos.count("fast_path") >= 10 and whos.count("not_fast_path") >= 40
