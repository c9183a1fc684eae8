"""The Open Inference Protocol adapter: what it decodes, refuses and answers (iris_ml/serving/oip.py).

Every answer is checked against the protocol's own OpenAPI document (tests/oip_spec.py).
The same routes on a real server, with tritonclient, are in tests/integration/test_oip.py.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from iris_ml.contract import FEATURE_NAMES, MAX_ROWS_PER_REQUEST, SPECIES
from iris_ml.serving import oip
from iris_ml.serving.auth import ServingKeys
from iris_ml.serving.handoff import Limits
from iris_ml.serving.layer import ServingLayer
from iris_ml.serving.metrics import ServingMetrics
from tests.oip_spec import assert_valid
from tests.unit.serving.test_serving_layer import call

FLOWERS = [[6.3, 3.3, 6.0, 2.5], [5.1, 3.5, 1.4, 0.2]]


def body(**request) -> bytes:
    return json.dumps(request).encode()


def features(data, shape=(2, 4), datatype="FP64", name=oip.FEATURES_INPUT) -> dict:
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": data}


def decode(payload: dict, headers: dict | None = None) -> oip.InferRequest:
    return oip.decode_infer(json.dumps(payload).encode(), headers or {})


def refusal(payload, headers: dict | None = None) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(oip.OipError) as caught:
        oip.decode_infer(raw, headers or {})
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize(
    "data", [FLOWERS, [v for row in FLOWERS for v in row]], ids=["nested", "flattened"]
)
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_one_features_tensor_nested_or_flattened(data, datatype):
    request = decode({"id": "00123", "inputs": [features(data, datatype=datatype)]})
    assert request.matrix.dtype == np.float64 and request.matrix.tolist() == FLOWERS
    assert request.id == "00123" and request.outputs == oip.OUTPUTS


def test_one_tensor_per_feature_in_any_order_and_either_shape():
    columns = list(zip(*FLOWERS, strict=True))
    inputs = [
        {"name": name, "shape": [2] if i % 2 else [2, 1], "datatype": "FP64",
         "data": list(columns[i]) if i % 2 else [[v] for v in columns[i]]}
        for i, name in reversed(list(enumerate(FEATURE_NAMES)))
    ]  # fmt: skip
    assert decode({"inputs": inputs}).matrix.tolist() == FLOWERS


def test_the_values_are_the_json_numbers_sent_not_rounded_to_fp32():
    request = decode({"inputs": [features([[5.1, 3.5, 1.4, 0.2]], (1, 4), "FP32")]})
    assert request.matrix.tolist() == [[5.1, 3.5, 1.4, 0.2]]


@pytest.mark.parametrize(
    ("data", "shape", "says"),
    [
        ([[6.3, 3.3, 6.0, True], FLOWERS[1]], (2, 4), "boolean"),
        ([6.3, 3.3, 6.0, False, *FLOWERS[1]], (2, 4), "boolean"),
        ([["6.3", 3.3, 6.0, 2.5], FLOWERS[1]], (2, 4), "numbers"),
        ([[None, 3.3, 6.0, 2.5], FLOWERS[1]], (2, 4), "numbers"),
        ([[6.3, 3.3, 6.0], FLOWERS[1]], (2, 4), "shape"),
        (FLOWERS, (4, 2), "shape"),
        (FLOWERS, (2, 5), "shape"),
        ([v for row in FLOWERS for v in row][:7], (2, 4), "shape"),
        ([v for row in FLOWERS for v in row], (8,), "[N, 4]"),
        ([], (0, 4), "1 to"),
    ],
)
def test_a_tensor_that_is_not_numbers_of_its_shape_is_refused(data, shape, says):
    assert says in refusal({"inputs": [features(data, shape)]})


def test_booleans_are_found_even_when_another_field_says_false():
    payload = {"inputs": [features([[6.3, 3.3, 6.0, True]], (1, 4))],
               "outputs": [{"name": "species", "parameters": {"binary_data": False}}]}  # fmt: skip
    assert "boolean" in refusal(payload)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{", "not valid JSON"),
        (b"[1]", "JSON object"),
        ({"inputs": []}, "non-empty list"),
        ({"inputs": [features(FLOWERS, datatype="INT64")]}, "send FP64 or FP32"),
        ({"inputs": [features(FLOWERS, name="input-0")]}, "do not match the model"),
        ({"inputs": [features(FLOWERS), features(FLOWERS)]}, "do not match the model"),
        ({"inputs": [features(FLOWERS)], "id": 42}, "'id' must be a string"),
        ({"inputs": [features(FLOWERS)], "extra": 1}, "unknown field"),
        ({"inputs": [features(FLOWERS) | {"shape": [2, -4]}]}, "non-negative integers"),
        ({"inputs": [features(FLOWERS)], "parameters": {"priority": 1}}, "'priority'"),
        ({"inputs": [features(FLOWERS)], "parameters": []}, "must be an object"),
        ({"inputs": [features(FLOWERS)], "outputs": [{"name": "label"}]}, "no output 'label'"),
        ({"inputs": [features(FLOWERS)], "outputs": [{"name": "species"}] * 2}, "twice"),
        ({"inputs": [features(FLOWERS)], "parameters": {"binary_data_output": True}}, "binary"),
        ({"inputs": [features(FLOWERS) | {"parameters": {"binary_data_size": 64}}]}, "binary"),
    ],
)
def test_each_malformed_request_is_a_400_saying_what_is_wrong(payload, says):
    assert says in refusal(payload)


def test_a_binary_request_is_refused_with_how_to_send_json():
    message = refusal(b'{"inputs": []}\x00\x01', {oip.BINARY_HEADER: b"14"})
    assert "binary_data=False" in message


def test_rows_past_the_contract_limit_are_refused():
    rows = [FLOWERS[0]] * (MAX_ROWS_PER_REQUEST + 1)
    assert str(MAX_ROWS_PER_REQUEST) in refusal({"inputs": [features(rows, (len(rows), 4))]})


def test_json_binary_flags_that_ask_for_json_are_accepted():
    payload = {"inputs": [features(FLOWERS)], "parameters": {"binary_data_output": False},
               "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}]}  # fmt: skip
    assert decode(payload).outputs == ("probabilities",)


def answer(request: oip.InferRequest, version: str | None = "3") -> dict:
    probabilities = np.array([[0.0, 0.1, 0.9], [0.98, 0.02, 0.0]])
    species = ["virginica", "setosa"]
    return json.loads(oip.encode_infer(request, "iris-classifier", version, species, probabilities))


def test_the_answer_carries_both_outputs_the_id_and_the_version_and_fits_the_spec():
    found = answer(decode({"id": "00123", "inputs": [features(FLOWERS)]}))
    assert_valid("inference_response", found)
    assert found["id"] == "00123" and found["model_version"] == "3"
    species, probabilities = found["outputs"]
    assert species == {"name": "species", "shape": [2], "datatype": "BYTES",
                       "data": ["virginica", "setosa"]}  # fmt: skip
    assert probabilities["shape"] == [2, len(SPECIES)] and probabilities["datatype"] == "FP64"
    assert probabilities["data"] == [0.0, 0.1, 0.9, 0.98, 0.02, 0.0]


def test_an_answer_without_id_or_version_leaves_them_out_rather_than_null():
    found = answer(decode({"inputs": [features(FLOWERS)], "outputs": [{"name": "species"}]}), None)
    assert_valid("inference_response", found)
    assert set(found) == {"model_name", "outputs"} and [o["name"] for o in found["outputs"]] == [
        "species"
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2", oip.Route("server")),
        ("/v2/health/live", oip.Route("live")),
        ("/v2/health/ready", oip.Route("ready")),
        ("/v2/models/iris-classifier", oip.Route("model", "iris-classifier")),
        ("/v2/models/iris-classifier/versions/3", oip.Route("model", "iris-classifier", "3")),
        ("/v2/models/iris-classifier/ready", oip.Route("model_ready", "iris-classifier")),
        ("/v2/models/m/versions/3/infer", oip.Route("infer", "m", "3")),
        ("/v2/models/m/explain", None),
        ("/v2/models", None),
        ("/v2/repository/index", None),
    ],
)
def test_routes(path, expected):
    assert oip.route(path) == expected


def test_a_model_or_version_not_served_is_a_404():
    with pytest.raises(oip.OipError) as caught:
        oip.check_model(oip.Route("infer", "other"), "iris-classifier", "3")
    assert caught.value.status == 404 and "'iris-classifier'" in caught.value.message
    with pytest.raises(oip.OipError) as caught:
        oip.check_model(oip.Route("infer", "iris-classifier", "2"), "iris-classifier", "3")
    assert caught.value.status == 404 and "version 3" in caught.value.message
    oip.check_model(oip.Route("infer", "iris-classifier", "3"), "iris-classifier", "3")


def test_metadata_fits_the_spec_and_names_every_column():
    assert_valid("metadata_server_response", oip.server_metadata())
    for version in ("3", None):
        found = oip.model_metadata("iris-classifier", version)
        assert_valid("metadata_model_response", found)
        assert ("versions" in found) is (version is not None)
    properties = oip.model_metadata("iris-classifier", "3")["properties"]
    assert properties["features"].split(",") == list(FEATURE_NAMES)
    assert properties["probabilities"].split(",") == list(SPECIES)


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [(b"", True), (b"application/json", True), (b"application/json; charset=utf-8", True),
     (b"text/csv", False), (b"application/json; charset=latin-1", False)],
)  # fmt: skip
def test_the_body_is_json_with_or_without_a_content_type(content_type, accepted):
    headers = {b"content-type": content_type} if content_type else {}
    assert (oip.content_type_problem(headers) is None) is accepted


# Through the serving layer: the door's rules answer in the protocol's shape.


class StubModel:
    """What the layer asks of the served model on /v2 (ObservedModel's score_matrix)."""

    version = "3"

    def __init__(self, refuse: str | None = None, fail: bool = False, delay: float = 0) -> None:
        self.refuse, self.fail, self.delay = refuse, fail, delay

    def score_matrix(self, matrix):
        from iris_ml.serving.encoding import Scored
        from iris_ml.serving.observed_model import ModelRefusal

        time.sleep(self.delay)
        if self.refuse:
            raise ModelRefusal(self.refuse)
        if self.fail:
            raise RuntimeError("/srv/model.py exploded")
        return Scored.of(np.tile([0.1, 0.2, 0.7], (len(matrix), 1)))


def oip_layer(model=None, **options) -> ServingLayer:
    metrics = ServingMetrics()
    return ServingLayer(lambda *a: None, lambda: "3", metrics, model_of=lambda: model, **options)


INFER = "/v2/models/iris-classifier/infer"
GOOD = body(inputs=[features(FLOWERS)])


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    found = response.json()
    assert_valid("inference_error_response", found)
    assert set(found) == {"error", "error_code", "request_id"} and "Traceback" not in response.text
    return found["error"]


@pytest.fixture
def single_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.mark.usefixtures("single_process")
def test_the_layer_answers_infer_with_the_models_scores():
    response = call(oip_layer(StubModel()), GOOD, path=INFER)
    assert response.status_code == 200 and response.headers["x-request-id"]
    assert_valid("inference_response", response.json())
    assert response.json()["outputs"][0]["data"] == ["virginica", "virginica"]


@pytest.mark.usefixtures("single_process")
def test_a_models_refusal_is_a_400_and_a_failure_a_500_without_its_path(caplog):
    refused = call(oip_layer(StubModel(refuse="row 0, petal_length: -6.0 is not > 0")), GOOD,
                   path=INFER)  # fmt: skip
    assert "petal_length" in error_of(refused, 400)
    failed = call(oip_layer(StubModel(fail=True)), GOOD, path=INFER)
    assert "/srv" not in error_of(failed, 500)


@pytest.mark.usefixtures("single_process")
def test_the_doors_limits_answer_in_the_protocols_shape():
    layer = oip_layer(StubModel(), limits=Limits(max_body_bytes=100))
    assert "limit" in error_of(call(layer, GOOD * 10, path=INFER), 413)
    gzip = {"Content-Encoding": "gzip"}
    assert error_of(call(oip_layer(StubModel()), GOOD, gzip, path=INFER), 415)
    csv = {"Content-Type": "text/csv"}
    assert "application/json" in error_of(call(oip_layer(StubModel()), GOOD, csv, path=INFER), 415)
    assert "GET" in error_of(call(oip_layer(StubModel()), b"", path="/v2", method="POST"), 405)


@pytest.mark.usefixtures("single_process")
def test_scoring_past_the_timeout_is_a_504():
    rows = [FLOWERS[0]] * 3000  # past the inline size: scored in a thread, under the timeout
    big = body(inputs=[features(rows, (len(rows), 4))])
    layer = oip_layer(StubModel(delay=1.5), limits=Limits(timeout=1))
    assert "limit of 1 s" in error_of(call(layer, big, path=INFER), 504)
    assert layer.admission.pending == 0


@pytest.mark.usefixtures("single_process")
def test_a_keyed_layer_asks_for_the_key_on_v2_but_not_on_its_probes():
    layer = oip_layer(StubModel(), keys=ServingKeys.of(("k" * 20,)))
    assert call(layer, path="/v2/health/live", method="GET").json() == {"live": True}
    assert call(layer, path="/v2/health/ready", method="GET").json() == {"ready": True}
    refused = call(layer, GOOD, path=INFER)
    assert error_of(refused, 401) and refused.headers["www-authenticate"].startswith("Bearer")
    assert error_of(call(layer, path="/v2/models/iris-classifier", method="GET"), 401)
    keyed = call(layer, GOOD, {"Authorization": "Bearer " + "k" * 20}, path=INFER)
    assert keyed.status_code == 200
