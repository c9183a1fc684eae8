"""The Open Inference Protocol v2 on a real server, spoken by Triton's own client.

tritonclient (NVIDIA's, written for Triton's server) and plain httpx requests against
the champion served by the project's launcher; every answer is validated against the
protocol's OpenAPI document (tests/oip_spec.py), and the same rows give the same
probabilities on ``/v2`` as on ``/invocations``.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from iris_ml.contract import FEATURE_NAMES, SPECIES
from tests.oip_spec import assert_valid

pytestmark = pytest.mark.integration

MODEL = "iris-classifier"
FLOWERS = np.array([[6.3, 3.3, 6.0, 2.5], [5.1, 3.5, 1.4, 0.2]])  # virginica, setosa


@pytest.fixture(scope="module")
def client(served_champion):
    url = served_champion.base_url.removeprefix("http://")
    found = triton.InferenceServerClient(url, connection_timeout=30, network_timeout=60)
    yield found
    found.close()


def features_input(matrix: np.ndarray, datatype: str = "FP64") -> triton.InferInput:
    tensor = triton.InferInput("features", list(matrix.shape), datatype)
    tensor.set_data_from_numpy(matrix.astype(np.float32 if datatype == "FP32" else np.float64),
                               binary_data=False)  # fmt: skip
    return tensor


def json_outputs(*names: str) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in names]


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_tritonclient_infer_names_two_flowers_and_echoes_the_id(client, datatype):
    result = client.infer(
        MODEL,
        [features_input(FLOWERS, datatype)],
        request_id="00123",
        outputs=json_outputs("species", "probabilities"),
    )
    response = result.get_response()
    assert_valid("inference_response", response)
    assert response["id"] == "00123" and response["model_version"] == "1"
    assert result.as_numpy("species").tolist() == ["virginica", "setosa"]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, len(SPECIES))
    assert np.allclose(probabilities.sum(axis=1), 1)


def test_one_tensor_per_feature_gives_the_same_answer(client):
    inputs = []
    for i, name in enumerate(FEATURE_NAMES):
        tensor = triton.InferInput(name, [len(FLOWERS)], "FP64")
        tensor.set_data_from_numpy(FLOWERS[:, i].copy(), binary_data=False)
        inputs.append(tensor)
    result = client.infer(MODEL, inputs, outputs=json_outputs("species"))
    assert result.as_numpy("species").tolist() == ["virginica", "setosa"]
    assert result.as_numpy("probabilities") is None  # only what was asked for


def test_oip_and_invocations_score_the_same_rows_alike(served_champion, client):
    rows = np.array([[5.9, 3.0, 5.1, 1.8], [6.0, 2.2, 4.0, 1.0], [4.9, 3.1, 1.5, 0.1]])
    via_oip = client.infer(MODEL, [features_input(rows)], outputs=json_outputs("probabilities"))
    mlflow_answer = httpx.post(
        served_champion.invocations,
        json={"dataframe_split": {"columns": list(FEATURE_NAMES), "data": rows.tolist()}},
        timeout=30,
    ).json()["predictions"]
    expected = [[p["probabilities"][s] for s in SPECIES] for p in mlflow_answer]
    assert via_oip.as_numpy("probabilities").tolist() == expected  # the same floats, exactly


def test_health_and_metadata_through_tritonclient(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready(MODEL, "7") and not client.is_model_ready("other")
    server = client.get_server_metadata()
    assert_valid("metadata_server_response", server)
    model = client.get_model_metadata(MODEL)
    assert_valid("metadata_model_response", model)
    assert model["versions"] == ["1"] and model["inputs"][0]["shape"] == [-1, len(FEATURE_NAMES)]


def test_a_negative_petal_length_is_a_400_naming_it(client):
    bad = np.array([[6.3, 3.3, -6.0, 2.5]])
    with pytest.raises(InferenceServerException) as caught:
        client.infer(MODEL, [features_input(bad)], outputs=json_outputs("species"))
    assert caught.value.status() == "400" and "petal_length" in caught.value.message()


def test_tritonclient_defaults_binary_and_is_told_to_send_json(client):
    tensor = triton.InferInput("features", list(FLOWERS.shape), "FP64")
    tensor.set_data_from_numpy(FLOWERS)  # binary_data=True, the client's default
    with pytest.raises(InferenceServerException) as caught:
        client.infer(MODEL, [tensor])
    assert caught.value.status() == "400" and "binary_data=False" in caught.value.message()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", f"/v2/models/{MODEL}/infer", {"inputs": []}, 400),
        ("POST", f"/v2/models/{MODEL}/versions/7/infer", {"inputs": []}, 404),
        ("POST", "/v2/models/other/infer", {"inputs": []}, 404),
        ("GET", f"/v2/models/{MODEL}/infer", None, 405),
        ("GET", "/v2/repository/index", None, 404),
        ("POST", f"/v2/models/{MODEL}/infer", b"\x00 not json", 400),
    ],
)
def test_every_refusal_is_the_protocols_error_object(served_champion, method, path, body, status):
    content = body if isinstance(body, bytes) else None
    response = httpx.request(
        method, served_champion.base_url + path, json=None if content else body,
        content=content, headers={"X-Request-ID": "oip-1"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == status, response.text
    error = response.json()
    assert_valid("inference_error_response", error)
    assert isinstance(error["error"], str) and error["error"] and error["request_id"] == "oip-1"
    assert "Traceback" not in response.text


def test_the_probes_and_metadata_answer_with_the_documented_objects(served_champion):
    base = served_champion.base_url
    assert httpx.get(base + "/v2/health/live").json() == {"live": True}
    assert httpx.get(base + "/v2/health/ready").json() == {"ready": True}
    ready = httpx.get(f"{base}/v2/models/{MODEL}/versions/1/ready").json()
    assert ready == {"name": MODEL, "ready": True}
    assert_valid("metadata_server_response", httpx.get(base + "/v2").json())
    metrics = httpx.get(base + "/metrics").text
    assert 'route="/v2/models/{model}/infer"' in metrics
