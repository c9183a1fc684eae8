"""The Open Inference Protocol's own OpenAPI document, to validate our answers against.

tests/data/oip/open_inference_rest.yaml is the protocol repository's file (SOURCE.md
there says which commit). OpenAPI 3.0 has no implicit null: a ``null`` where a schema
asks for an object, an array or a string fails, as it should.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

from tests import procs

SPEC = procs.REPO / "tests" / "data" / "oip" / "open_inference_rest.yaml"


@cache
def _document() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def problems(schema_name: str, answer: Any) -> list[str]:
    """Every way ``answer`` breaks the document's schema ``schema_name`` (empty: it is valid)."""
    components = _document()["components"]
    assert schema_name in components["schemas"], schema_name
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in OAS30Validator(root).iter_errors(answer)
    ]


def assert_valid(schema_name: str, answer: Any) -> None:
    found = problems(schema_name, answer)
    assert not found, f"{schema_name}: {found}"
