"""The server's OpenAPI document and offline /docs page (iris_ml/serving/openapi.py).

The document is checked as OpenAPI 3.1 by openapi-spec-validator, its bounds against
the contract, and its request schemas against requests the server accepts and refuses.
schemathesis runs it against a live server in tests/integration/test_openapi.py.
"""

from __future__ import annotations

import re

import pytest
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from iris_ml.contract import FEATURES, MAX_ROWS_PER_REQUEST, SPECIES
from iris_ml.serving import metrics, oip, openapi
from iris_ml.serving.auth import ServingKeys
from iris_ml.serving.layer import ServingLayer
from iris_ml.serving.metrics import ServingMetrics
from tests.unit.serving.test_serving_layer import call

DOCUMENT = openapi.document()
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def request_schema(path: str, media: str = "application/json") -> OAS31Validator:
    """A validator of ``path``'s request body, its $refs resolved in the document."""
    schema = DOCUMENT["paths"][path]["post"]["requestBody"]["content"][media]["schema"]
    # The schema's "#/components/..." references resolve against the schema it is part of.
    return OAS31Validator({**schema, "components": DOCUMENT["components"]})


def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT)  # raises on the first error
    assert DOCUMENT["openapi"] == "3.1.0"


def test_its_bounds_and_names_are_the_contracts():
    schemas = DOCUMENT["components"]["schemas"]
    record = schemas["Record"]["properties"]
    assert {name: s["maximum"] for name, s in record.items()} == {
        f.name: f.maximum for f in FEATURES
    }
    assert all(s["exclusiveMinimum"] == 0 for s in record.values())
    rows = schemas["DataframeRecords"]["properties"]["dataframe_records"]
    assert rows["maxItems"] == MAX_ROWS_PER_REQUEST
    assert schemas["Prediction"]["properties"]["species"]["enum"] == list(SPECIES)
    assert schemas["InferOutput"]["properties"]["name"]["enum"] == list(oip.OUTPUTS)


def test_every_route_the_server_answers_is_described():
    documented = set(DOCUMENT["paths"])
    assert set(metrics.ROUTES) <= documented
    concrete = ["/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/iris-classifier",
                "/v2/models/iris-classifier/ready", "/v2/models/iris-classifier/infer"]  # fmt: skip
    for path in concrete:
        template = oip.route(path).label.replace("{model}", "{model_name}")
        assert template in documented, path
        versioned = template.replace("{model_name}", "{model_name}/versions/{model_version}")
        assert template == "/v2" or "/health/" in template or versioned in documented


@pytest.mark.parametrize(
    "request_body",
    [
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
        {"dataframe_records": [ROW, ROW]},
        {"instances": [ROW]},
        {"inputs": {name: [value] for name, value in ROW.items()}},
    ],
    ids=["split", "records", "instances", "inputs"],
)
def test_each_of_mlflows_formats_the_server_scores_is_a_valid_request(request_body):
    request_schema("/invocations").validate(request_body)


@pytest.mark.parametrize(
    "request_body",
    [
        {"dataframe_records": [{**ROW, "petal_length": -1.4}]},  # the server's 400
        {"dataframe_records": [{**ROW, "sepal_length": 31.0}]},  # past the contract's maximum
        {"dataframe_records": [{k: v for k, v in ROW.items() if k != "petal_width"}]},
        {"dataframe_records": []},
        {"dataframe_split": {"columns": [{}, *list(ROW)[1:]], "data": [list(ROW.values())]}},
        {"dataframe_records": [ROW], "inputs": {}},
    ],
)
def test_what_the_server_refuses_is_not_a_valid_request(request_body):
    with pytest.raises(ValidationError):
        request_schema("/invocations").validate(request_body)


def test_an_oip_infer_request_tritonclient_sends_is_valid():
    tensor = {"name": "features", "shape": [1, 4], "datatype": "FP64", "data": [list(ROW.values())]}
    infer = request_schema("/v2/models/{model_name}/infer")
    infer.validate({"id": "00123", "inputs": [tensor], "outputs": [{"name": "species"}]})
    with pytest.raises(ValidationError):
        infer.validate({"inputs": [{**tensor, "datatype": "BOOL"}]})


def test_the_docs_page_loads_only_files_this_server_serves():
    page, media, headers = openapi.describe("/docs")
    assert media.startswith("text/html")
    policy = dict(headers)[b"content-security-policy"]
    assert b"default-src 'self'" in policy and b"connect-src 'self'" in policy
    links = re.findall(rb'(?:src|href)="([^"]+)"', page)
    assert links and all(not link.startswith((b"http", b"//", b"/")) for link in links)
    for link in links:  # relative to /docs: the bundle, its stylesheet
        body, _, _ = openapi.describe("/" + link.decode())
        assert len(body) > 10_000
    assert b'url: "openapi.json"' in page
    assert openapi.describe("/docs/../etc/passwd") is None


@pytest.fixture
def layer(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    keys = ServingKeys.of(("k" * 24,))
    return ServingLayer(lambda *a: None, lambda: "3", ServingMetrics(), keys=keys)


def test_a_keyed_server_asks_for_its_key_for_the_document_and_the_page(layer):
    for path in ("/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"):
        assert call(layer, path=path, method="GET").status_code == 401
        answer = call(
            layer, path=path, method="GET", headers={"Authorization": "Bearer " + "k" * 24}
        )
        assert answer.status_code == 200 and answer.headers["x-request-id"]
    document = call(layer, path="/openapi.json", method="GET",
                    headers={"Authorization": "Bearer " + "k" * 24})  # fmt: skip
    assert document.json() == DOCUMENT
