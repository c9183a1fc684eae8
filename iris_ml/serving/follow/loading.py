"""Load one version as a worker serves it, and check it as a client would."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from iris_ml.contract import FEATURE_NAMES, MODEL_VERSION_KEY, SPECIES_KEY, TEXTBOOK_FLOWERS
from iris_ml.serving.lazy_app import LazyMlflowApp
from iris_ml.serving.served import Serve


class CheckFailed(Exception):
    """A version loaded but did not answer the textbook flowers as a champion must."""


@dataclass(frozen=True)
class Loaded:
    version: str
    app: Any  # MLflow's FastAPI scoring app for this version (or a LazyMlflowApp of it)
    model: Any = None  # what that app serves (the observed model)


def load_version(version: str, path: str, serve: Serve, check: bool = True) -> Loaded:
    """Load one version's downloaded folder as this worker serves it, and check it."""
    model, app = serve(path, version)
    if check:
        if isinstance(app, LazyMlflowApp):
            check_answer(model.score_plain(textbook_matrix()), version)  # the numpy route
        else:
            check_in_thread(app, version)
    return Loaded(version, app, model)


def check_in_thread(app: Any, version: str) -> None:
    """``check_app`` in its own thread and loop: uvicorn calls the factory inside its loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, check_app(app, version)).result()


def textbook_matrix() -> np.ndarray:
    return np.array([values for values, _ in TEXTBOOK_FLOWERS], dtype=np.float64)


async def check_app(app: Any, version: str) -> None:
    """POST the textbook flowers to the app in-process, as a client would; raise CheckFailed."""
    import httpx

    body = {
        "dataframe_split": {
            "columns": list(FEATURE_NAMES),
            "data": [list(values) for values, _ in TEXTBOOK_FLOWERS],
        }
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://check") as client:
        response = await client.post("/invocations", json=body, timeout=60)
    if response.status_code != 200:
        raise CheckFailed(f"the textbook flowers got HTTP {response.status_code}")
    check_answer(response.content, version)


def check_answer(answer: bytes | None, version: str) -> None:
    """Raise CheckFailed unless ``answer`` names the textbook flowers and reports ``version``."""
    if answer is None:
        raise CheckFailed("the textbook flowers were not scored")
    answers = json.loads(answer).get("predictions", [])
    named = [a.get(SPECIES_KEY) for a in answers]
    expected = [species for _, species in TEXTBOOK_FLOWERS]
    if named != expected:
        raise CheckFailed(f"the textbook flowers were named {named}, expected {expected}")
    versions = {str(a.get(MODEL_VERSION_KEY)) for a in answers}
    if versions != {version}:
        raise CheckFailed(f"it reports model_version {sorted(versions)}, expected {version}")


def reason(exc: BaseException) -> str:
    """One line for a log or ``/health``: the exception's type and first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
