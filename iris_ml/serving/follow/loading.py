"""Load one registered version into MLflow's scoring app, and check it as a client would."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iris_ml.contract import FEATURE_NAMES, MODEL_VERSION_KEY, SPECIES_KEY, TEXTBOOK_FLOWERS
from iris_ml.registry.download import download_model


class CheckFailed(Exception):
    """A version loaded but did not answer the textbook flowers as a champion must."""


@dataclass(frozen=True)
class Loaded:
    version: str
    app: Any  # MLflow's FastAPI scoring app for this version
    model: Any = None  # what that app serves (the wrapped model)


Wrap = Callable[[Any, str], Any]  # (loaded pyfunc model, version) -> what MLflow's app serves


def load_version(
    model_name: str,
    version: str,
    source: str,
    local_path: str | None = None,
    check: bool = True,
    wrap: Wrap | None = None,
) -> Loaded:
    """Download (cached), load, wrap in MLflow's scoring app, and check one version."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    path = local_path or download_model(model_name, version, source)
    model = mlflow.pyfunc.load_model(path, model_config={MODEL_VERSION_KEY: version})
    served = wrap(model, version) if wrap else model
    app = scoring_server.init(served)
    if check:
        # Its own thread and loop: uvicorn calls the factory inside its running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, check_app(app, version)).result()
    return Loaded(version, app, served)


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
    answers = response.json().get("predictions", [])
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
