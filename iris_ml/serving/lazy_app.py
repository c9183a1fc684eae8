"""MLflow's scoring app, imported and built on the first request that needs it (issue 34).

A worker whose model has a linear scorer answers plain requests, OIP and the layer's own
routes with numpy alone; importing MLflow (and through it pandas and scikit-learn)
costs ~2-5 s and ~200 MB per worker. ``LazyMlflowApp`` stands where MLflow's app
stands behind the serving layer and builds it on the first request that reaches it (a
CSV body, another JSON format, a value the fast path leaves to MLflow), in a thread, so
the worker keeps answering the fast path meanwhile. ``/ping`` and ``/version`` are
answered as MLflow's app answers them, without it. ``--eager-mlflow`` builds it at start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

from starlette.types import Receive, Scope, Send

_log = logging.getLogger("iris_ml.serving")


@runtime_checkable
class MayBeLoading(Protocol):
    """An app that may still be building MLflow's (this one, or a follower serving one)."""

    async def ready(self, path: str, seconds: float) -> bool: ...


class LazyMlflowApp:
    """An ASGI app that is MLflow's scoring app once ``build()`` has made it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._app: Any = None
        self._lock = threading.Lock()
        self._building: Future[Any] | None = None  # a build started by ready()

    @property
    def built(self) -> bool:
        return self._app is not None

    def app(self) -> Any:
        """MLflow's app, built by the first caller (the others wait for it)."""
        with self._lock:
            if self._app is None:
                started = time.perf_counter()
                self._app = self._build()
                _log.info("MLflow's scoring app loaded in %.1f s", time.perf_counter() - started)
            return self._app

    async def ready(self, path: str, seconds: float) -> bool:
        """Whether ``path`` can be answered within ``seconds``; a build goes on either way."""
        if self._app is not None or path in _WITHOUT_MLFLOW:
            return True
        if self._building is None:
            self._building = building = Future[Any]()
            threading.Thread(target=self._build_into, args=(building,), daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._building)), seconds)
        except TimeoutError:
            return False
        except Exception:
            self._building = None  # the next request tries again; this one answers the error
            raise
        return True

    def _build_into(self, building: Future[Any]) -> None:
        try:
            building.set_result(self.app())
        except BaseException as exc:  # handed to the waiting request
            building.set_exception(exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            if scope["type"] == "lifespan":
                return await _lifespan(receive, send)  # MLflow's app has no start-up work
            if scope["type"] == "http" and (answer := _WITHOUT_MLFLOW.get(scope["path"])):
                return await _send(send, 200, answer())
        app = self._app or await asyncio.to_thread(self.app)
        await app(scope, receive, send)


# MLflow's own answers that need no model code: ``/ping`` (loaded), ``/version``.
_WITHOUT_MLFLOW: dict[str, Callable[[], bytes]] = {
    "/ping": lambda: b"\n",
    "/version": lambda: metadata.version("mlflow").encode(),
}


async def _send(send: Send, status: int, body: bytes) -> None:
    # As MLflow's app sends them: both typed application/json.
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
