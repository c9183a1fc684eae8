"""The server's OpenAPI 3.1 document (``GET /openapi.json``) and its offline page (``GET /docs``).

Built from the definitions the server checks requests with: the contract's features,
bounds, species and row limit, the door's limits and statuses, and the OIP adapter's
names and types. Nothing here is written twice by hand, so the document cannot say a
range or a name the server does not hold. The suite validates it
(openapi-spec-validator) and runs schemathesis against a live server with it.

``/docs`` is Swagger UI from the ``fastapi-swagger`` package's own copy of its files:
no CDN, so it works on a machine without a network.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import metadata, resources
from typing import Any

from iris_ml.contract import (
    FEATURES,
    MAX_ROWS_PER_REQUEST,
    MODEL_VERSION_KEY,
    PROBABILITIES_KEY,
    SPECIES,
    SPECIES_KEY,
    UNIT,
)
from iris_ml.serving import oip
from iris_ml.settings import DEFAULT_MODEL_NAME

DOCS_ASSETS = {  # path -> (file in fastapi_swagger's resources, media type)
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript"),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css"),
}
# The page may load only what this server serves: it cannot reach a CDN by mistake.
DOCS_POLICY = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'"
)
_REF = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _feature_schemas() -> dict[str, Any]:
    return {
        f.name: {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": f.maximum,
            "description": f"{f.label} in {UNIT} (0 < value <= {f.maximum:g})",
        }
        for f in FEATURES
    }


def _rows(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": 1, "maxItems": MAX_ROWS_PER_REQUEST}


def _schemas() -> dict[str, Any]:
    features = _feature_schemas()
    names = list(features)
    record = {"type": "object", "properties": features, "required": names}
    number = {"type": "number"}
    return {
        "Record": record,
        "DataframeSplit": _format("dataframe_split", {
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": {"enum": names}, "minItems": len(names),
                            "maxItems": len(names), "uniqueItems": True},
                "data": _rows({"type": "array", "items": number, "minItems": len(names),
                               "maxItems": len(names)}),
            },
            "required": ["columns", "data"],
            "additionalProperties": False,
        }),
        "DataframeRecords": _format("dataframe_records", _rows(ref("Record"))),
        "Instances": _format("instances", _rows(ref("Record"))),
        "Inputs": _format("inputs", {
            "type": "object",
            "properties": {name: _rows(schema) for name, schema in features.items()},
            "required": names,
        }),
        "Prediction": {
            "type": "object",
            "properties": {
                SPECIES_KEY: {"enum": list(SPECIES)},
                PROBABILITIES_KEY: {
                    "type": "object",
                    "properties": {s: {"type": "number", "minimum": 0, "maximum": 1}
                                   for s in SPECIES},
                    "required": list(SPECIES),
                },
                MODEL_VERSION_KEY: {"type": "string"},
            },
            "required": [SPECIES_KEY, PROBABILITIES_KEY],
        },
        "Predictions": {
            "type": "object",
            "properties": {"predictions": {"type": "array", "items": ref("Prediction")}},
            "required": ["predictions"],
        },
        "Error": {
            "type": "object",
            "properties": {
                "error_code": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
            "required": ["error_code", "message", "request_id"],
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"enum": ["ok", "warning", "degraded"]},
                           MODEL_VERSION_KEY: {"type": ["string", "null"]}},
            "required": ["status"],
        },
        **_oip_schemas(),
    }  # fmt: skip


def _format(key: str, table: dict[str, Any]) -> dict[str, Any]:
    """One of MLflow's JSON input formats: an object with that one key."""
    return {
        "type": "object",
        "properties": {key: table},
        "required": [key],
        "additionalProperties": False,
    }


def _oip_schemas() -> dict[str, Any]:
    tensor_data: dict[str, Any] = {
        "type": "array",
        "items": {"anyOf": [ref("TensorData"), {"type": "number"}]},
    }
    names = [oip.FEATURES_INPUT, *(f.name for f in FEATURES)]
    return {
        "TensorData": tensor_data,
        "InferInput": {
            "type": "object",
            "properties": {
                "name": {"enum": names},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0},
                          "minItems": 1, "maxItems": 2},
                "datatype": {"enum": list(oip.FLOAT_TYPES)},
                "data": ref("TensorData"),
            },
            "required": ["name", "shape", "datatype", "data"],
            "additionalProperties": False,
        },
        "InferRequest": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "items": ref("InferInput"), "minItems": 1,
                           "maxItems": len(FEATURES)},
                "outputs": {"type": "array", "uniqueItems": True, "items": {
                    "type": "object", "properties": {"name": {"enum": list(oip.OUTPUTS)}},
                    "required": ["name"], "additionalProperties": False,
                }},
            },
            "required": ["inputs"],
            "additionalProperties": False,
        },
        "InferOutput": {
            "type": "object",
            "properties": {
                "name": {"enum": list(oip.OUTPUTS)},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": {"enum": ["BYTES", "FP64"]},
                "data": {"type": "array", "items": {"type": ["string", "number"]}},
            },
            "required": ["name", "shape", "datatype", "data"],
        },
        "InferResponse": {
            "type": "object",
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": ref("InferOutput")},
            },
            "required": ["model_name", "outputs"],
        },
        "OipError": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "error_code": {"type": "string"},
                           "request_id": {"type": "string"}},
            "required": ["error", "error_code", "request_id"],
        },
        "ServerMetadata": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                           "extensions": {"type": "array", "items": {"type": "string"}}},
            "required": ["name", "version", "extensions"],
        },
        "ModelMetadata": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "platform": {"type": "string"},
                           "versions": {"type": "array", "items": {"type": "string"}},
                           "inputs": {"type": "array"}, "outputs": {"type": "array"},
                           "properties": {"type": "object",
                                          "additionalProperties": {"type": "string"}}},
            "required": ["name", "platform", "inputs", "outputs"],
        },
        "Readiness": {"type": "object", "additionalProperties": {"type": ["boolean", "string"]}},
    }  # fmt: skip


# What the door and the model answer, by status: every route that reads a body has them all.
_BODY_ERRORS = {
    "400": "a value or a request the caller can fix (the message names it)",
    "413": "a body over the server's size limit",
    "415": "a Content-Type or Content-Encoding the server does not read",
    "503": "the worker's queue is full (Retry-After says when to retry)",
    "504": "scoring took longer than the server's timeout",
}
_KEYED = {"401": "a key is configured and the request carries none or a wrong one"}


def _errors(schema: str, statuses: dict[str, str]) -> dict[str, Any]:
    return {status: _json(ref(schema), why) for status, why in statuses.items()}


def _get(summary: str, ok: dict[str, Any], errors: dict[str, Any] | None = None) -> dict:
    return {"get": {"summary": summary, "responses": {"200": ok, **(errors or {})}}}


def _oip_model_paths(model_name: str) -> dict[str, Any]:
    missing = {"404": "another model or version than the one served", **_KEYED}
    paths: dict[str, Any] = {}
    for prefix in ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}"):
        # The served model's name is known; its version moves with the champion.
        schemas = {"model_name": {"enum": [model_name]}, "model_version": {"type": "string"}}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in schemas.items()
            if "{" + name + "}" in prefix
        ]
        paths[prefix] = {
            "parameters": parameters,
            **_get(
                "Model metadata (OIP v2)",
                _json(ref("ModelMetadata"), "the model's tensors"),
                _errors("OipError", missing),
            ),
        }
        paths[prefix + "/ready"] = {
            "parameters": parameters,
            **_get(
                "Model ready (OIP v2)",
                _json(ref("Readiness"), "the model is loaded"),
                _errors("OipError", missing),
            ),
        }
        infer_errors = {**_BODY_ERRORS, **missing}
        paths[prefix + "/infer"] = {"parameters": parameters, "post": {
            "summary": "Inference (OIP v2)",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": ref("InferRequest")}}},
            "responses": {"200": _json(ref("InferResponse"), "species and probabilities"),
                          **_errors("OipError", infer_errors)},
        }}  # fmt: skip
    return paths


def _paths(model_name: str) -> dict[str, Any]:
    formats = [ref(n) for n in ("DataframeSplit", "DataframeRecords", "Instances", "Inputs")]
    csv = {"type": "string", "description": "a header line naming the four columns, then rows"}
    open_route: dict[str, Any] = {"security": []}  # the probes: no key, ever
    return {
        "/invocations": {"post": {
            "summary": "Score rows (MLflow's scoring protocol)",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"oneOf": formats}},
                "text/csv": {"schema": csv},
            }},
            "responses": {"200": _json(ref("Predictions"), "one prediction per row, in order"),
                          **_errors("Error", {**_BODY_ERRORS, **_KEYED})},
        }},
        "/ping": {"get": {"summary": "Liveness (MLflow's)", **open_route,
                          "responses": {"200": {"description": "the model is loaded"}}}},
        "/health": {"get": {"summary": "What is served, and whether anything is amiss",
                            **open_route,
                            "responses": {"200": _json(ref("Health"), "the served version")}}},
        "/version": _get("MLflow's version", {"description": "MLflow's version, as text"},
                         _errors("Error", _KEYED)),
        "/metrics": _get("Prometheus metrics", {"description": "the exposition text",
                         "content": {"text/plain": {"schema": {"type": "string"}}}},
                         _errors("Error", _KEYED)),
        "/openapi.json": _get("This document", _json({"type": "object"}, "OpenAPI 3.1"),
                              _errors("Error", _KEYED)),
        "/docs": _get("This document as a page (Swagger UI, served from this server)",
                      {"description": "the page", "content": {"text/html": {
                          "schema": {"type": "string"}}}}, _errors("Error", _KEYED)),
        "/v2/health/live": {"get": {"summary": "Server live (OIP v2)", **open_route,
                                    "responses": {"200": _json(ref("Readiness"), "live")}}},
        "/v2/health/ready": {"get": {"summary": "Server ready (OIP v2)", **open_route,
                                     "responses": {"200": _json(ref("Readiness"), "ready")}}},
        "/v2": _get("Server metadata (OIP v2)", _json(ref("ServerMetadata"), "the server"),
                    _errors("OipError", _KEYED)),
        **_oip_model_paths(model_name),
    }  # fmt: skip


@cache
def document(model_name: str = DEFAULT_MODEL_NAME) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of a server of ``model_name`` (one per worker)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "iris-ml scoring server",
            "version": metadata.version("iris-ml"),
            "description": "Iris species from four measurements in centimetres: MLflow's "
            "/invocations and the Open Inference Protocol v2 on the same model. "
            "With a key configured, every route but the probes needs `Authorization: Bearer`.",
        },
        "paths": _paths(model_name),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        # Optional: a server started without keys asks for none.
        "security": [{}, {"bearer": []}],
    }


# Swagger UI on openapi.json; relative URLs, so it works behind a proxy's path prefix too.
DOCS_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iris-ml scoring server</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


@cache
def _asset(name: str) -> bytes:
    return resources.files("fastapi_swagger.resources").joinpath(name).read_bytes()


def describe(
    path: str, model_name: str = DEFAULT_MODEL_NAME
) -> tuple[bytes, str, tuple[tuple[bytes, bytes], ...]] | None:
    """The answer to a GET of the document, the page or one of its files; None for other paths.

    Each as (body, media type, extra headers); the page carries its no-CDN policy.
    """
    if path == "/openapi.json":
        return _document_json(model_name), "application/json", ()
    if path == "/docs":
        return DOCS_PAGE, "text/html; charset=utf-8", ((b"content-security-policy", DOCS_POLICY),)
    if found := DOCS_ASSETS.get(path):
        name, media = found
        return _asset(name), media, ()
    return None


@cache
def _document_json(model_name: str) -> bytes:
    return json.dumps(document(model_name)).encode()
