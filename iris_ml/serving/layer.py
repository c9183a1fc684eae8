"""A small ASGI layer in front of MLflow's scoring app (composition: MLflow's code is untouched).

Every MLflow route, input format and successful answer passes through as MLflow gives
it. The layer adds:

* ``GET /metrics``: Prometheus text (``serving_metrics.py``);
* ``GET /health``: JSON saying which version is served and whether anything is amiss
  (a pinned version the gate rejected, a follower that cannot reach the registry);
* key auth when keys are configured (``auth.py``): a 401 with ``WWW-Authenticate`` on
  every route but the probes, before anything else is read;
* ``X-Request-ID``: the caller's when it is a short safe token, else a new one; on every
  answer, in every error body and in the request's log line;
* error answers that never carry a stack trace or a file path: MLflow's ``stack_trace``
  field is dropped, paths are cut from messages, a non-numeric CSV cell is named by line
  and column, and what MLflow's handler would answer with a 500 (no Content-Type,
  bytes that are not UTF-8) is refused first with a 4xx. Every error body is JSON
  with ``error_code``, ``message`` and ``request_id`` (and MLflow's other fields);
* a JSON boolean in a feature is refused (400, naming the cell): MLflow's parser turns
  ``true`` into 1.0 before the model sees it, which would score a value nobody sent;
* limits with their own status (``door.py``): a body past the size limit 413, an encoded
  body 415, JSON nested past the contract's bound 400, a full queue 503 with
  ``Retry-After``, scoring past the timeout 504 (MLflow's handler has its own);
* opt-in JSON log lines, one per request (never the body or a header's value);
* a plain request (``fast_path.py``) answered without MLflow's handler: the same answer,
  without its DataFrame round trip and pure-Python JSON encoder;
* ``GET /openapi.json`` and an offline ``GET /docs`` (``openapi.py``), in place of the
  CDN page and partial document MLflow's FastAPI app would give;
* the Open Inference Protocol v2 (``oip.py``) under ``/v2``, on the same model, limits
  and keys, its errors in that protocol's shape (``{"error": ...}``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from iris_ml.contract import (
    FEATURE_NAMES,
    MAX_JSON_DEPTH,
    REQUEST_ID_HEADERS,
    RowError,
    boolean_cells,
    format_row_errors,
    is_safe_request_id,
    media_type,
    nested_too_deep,
    split_columns_problem,
    value_problem,
)
from iris_ml.serving import oip, openapi
from iris_ml.serving.auth import ServingKeys, challenge, needs_key
from iris_ml.serving.door import Admission, Refusal, head_refusal, read_body
from iris_ml.serving.fast_path import is_plain_json, plain_matrix
from iris_ml.serving.handoff import Limits
from iris_ml.serving.lazy_app import MayBeLoading
from iris_ml.serving.metrics import ServingMetrics, route_label
from iris_ml.serving.observed_model import ModelRefusal, RequestContext, current_request
from iris_ml.settings import DEFAULT_MODEL_NAME

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ID_HEADERS = tuple(name.encode() for name in REQUEST_ID_HEADERS)
# An absolute path (not part of a URL): /a/b/c.py, /usr/lib/python3.11/site-packages/...
_PATH = re.compile(r"(?<![\w:/.])/(?:[\w.@+-]+/)+[\w.@+-]+")
_CODE_PATH = re.compile(r"site-packages|dist-packages|\.pyc?$|\.so$")
# MLflow prefixes schema errors with a dump of the whole input; the reason follows "Error: ".
_ECHO = re.compile(r"^Failed to predict data .*?\nError: ", re.DOTALL)
_CSV_PARSE_FAILED = "Failed to parse input as a Pandas DataFrame"
TEXT_TYPES = ("application/json", "text/csv")  # MLflow reads these as UTF-8 text
INVALID_INPUT = "INVALID_PARAMETER_VALUE"  # MLflow's code when our model refuses a value
_access_log = logging.getLogger("iris_ml.access")
# The first request MLflow's handler answers may outlast the timeout while MLflow loads.
_LOADING = Refusal(
    503,
    "the server is still loading the handler for this request's format; retry shortly",
    headers=((b"retry-after", b"5"),),
)
INLINE_BODY_BYTES = 64 * 1024  # ~1,500 rows: scored on the event loop, bigger ones in a thread
# A request's log line: what happened to it, never its body or a header's value.
ACCESS_LOG_FIELDS = (
    "time", "request_id", "method", "path", "status", "latency_ms", "rows", "model_version",
    "answered_by",
)  # fmt: skip


def request_id(headers: Mapping[bytes, bytes], new_id: Callable[[], str]) -> str:
    """The caller's id when it is a short token of safe characters; otherwise a new one."""
    for name in _ID_HEADERS:
        value = headers.get(name)
        if value is not None:
            text = value.decode("latin-1")
            return text if is_safe_request_id(text) else new_id()
    return new_id()


def id_generator() -> Callable[[], str]:
    """New request ids: 32 hex digits, 80 random bits drawn once per worker, then a counter.

    Unique across workers and restarts without a uuid4() per request, which reads the
    kernel's random source every time: 3% of a one-row request's CPU under load here
    (py-spy), for ids that need to be unique, not unguessable.
    """
    prefix = secrets.token_hex(10)
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter) % 16**12:012x}"


def refusal(headers: Mapping[bytes, bytes], body: bytes) -> Refusal | None:
    """What to answer instead of any handler for a body it cannot read, or None.

    MLflow's handler answers a missing Content-Type or bytes that are not UTF-8 with a 500.
    """
    content_type = headers.get(b"content-type", b"")
    if not content_type.strip():
        return Refusal(415, "Content-Type is missing: send application/json or text/csv")
    mime, parameters = media_type(content_type.decode("latin-1"))
    charset = parameters.get("charset", "utf-8").lower()
    if mime.lower() in TEXT_TYPES and charset == "utf-8":
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Refusal(400, f"the body is not UTF-8 text (byte {exc.start} cannot be decoded)")
    return None


def json_refusal(headers: Mapping[bytes, bytes], body: bytes) -> Refusal | None:
    """What to answer instead of MLflow's handler for a JSON body it would misread, or None.

    Its parser answers JSON nested too deep, and a column name that is a list or an
    object, with a 500; it reads a JSON boolean as 1.0 or 0.0 and scores a value nobody
    sent. The fast path took every plain request already: this parse is off its way.
    """
    mime, _ = media_type(headers.get(b"content-type", b"").decode("latin-1"))
    if mime.lower() != "application/json":
        return None
    if nested_too_deep(body):  # before json.loads, which fails on it with a RecursionError
        return Refusal(
            400, f"the JSON nests deeper than {MAX_JSON_DEPTH} levels (a request needs 4 at most)"
        )
    try:
        payload = json.loads(body)
    except ValueError:
        return None  # MLflow's handler names what is wrong with it
    if not isinstance(payload, dict):
        return None
    if problem := split_columns_problem(payload):
        return Refusal(400, f"Invalid input: {problem}", INVALID_INPUT)
    if cells := boolean_cells(payload):
        message = f"Invalid input: {format_row_errors(cells)}"
        return Refusal(400, message, INVALID_INPUT, tuple(cells))
    return None


def clean_message(text: str) -> str:
    """A message fit for a caller: no traceback, no file path, no echo of the input."""
    text = text.split("Traceback (most recent call last)", 1)[0]
    text = _ECHO.sub("", text)
    return _PATH.sub(_hide_server_path, text).strip()


def _hide_server_path(found: re.Match[str]) -> str:
    """A path of this server (its code, its folders) goes; a value the caller sent stays."""
    path = found.group(0)
    roots = (sys.prefix, sys.base_prefix, tempfile.gettempdir(), os.getcwd())
    ours = _CODE_PATH.search(path) or path.startswith(tuple(r for r in roots if r != "/"))
    return "<path>" if ours else path


def csv_cell_problems(text: str) -> list[RowError]:
    """The cells of a CSV body's feature columns that are not numbers, named by line (first few)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None) or []
    where = {name.strip(): i for i, name in enumerate(header) if name.strip() in FEATURE_NAMES}
    errors: list[RowError] = []
    for row, cells in enumerate(reader):
        for name, i in where.items():
            cell = cells[i].strip() if i < len(cells) else ""
            if cell == "":
                continue  # an empty cell is a missing value: the model says so itself
            try:
                float(cell)
            except ValueError:
                kind, problem = value_problem(name, cell) or ("not_a_number", "not a number")
                errors.append(RowError(row, name, problem, line=reader.line_num, kind=kind))
        if len(errors) > 5:
            break
    return errors


def error_body(status: int, body: bytes, request_id: str, csv_text: str | None) -> bytes:
    """The JSON error body for whatever the app answered with ``status``.

    MLflow's own JSON errors keep their fields (``error_code``, ``error_class``, ...) but
    ``stack_trace``; anything else becomes ``{"error_code", "message"}``. All get
    ``request_id``.
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    fields: dict[str, Any] = {}
    message = None
    if isinstance(parsed, dict):
        fields = {k: v for k, v in parsed.items() if k not in ("stack_trace", "detail")}
        found = parsed.get("message", parsed.get("detail"))
        message = found if isinstance(found, str) else None if found is None else str(found)
    if message is None:
        message = body.decode("utf-8", errors="replace")
    csv_failed = csv_text is not None and status == 400 and message.startswith(_CSV_PARSE_FAILED)
    if csv_failed and (cells := csv_cell_problems(str(csv_text))):
        message = f"Invalid input: {format_row_errors(cells)}"
    if not isinstance(fields.get("error_code"), str):
        fields["error_code"] = _status_name(status)
    fields["message"] = clean_message(message) or HTTPStatus(status).phrase
    fields["request_id"] = request_id
    return json.dumps(fields).encode()


def _status_name(status: int) -> str:
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "ERROR"


class ServingLayer:
    """The ASGI app uvicorn runs: this layer around MLflow's scoring app (or the follower)."""

    def __init__(
        self,
        app: Any,
        version_of: Callable[[], str | None],
        metrics: ServingMetrics,
        log_requests: bool = False,
        model_of: Callable[[], Any] = lambda: None,
        health: Callable[[], dict[str, Any]] | None = None,
        limits: Limits | None = None,
        keys: ServingKeys | None = None,
        fast_path: bool = True,
        model_name: str = DEFAULT_MODEL_NAME,
    ) -> None:
        self.app = app
        self.fast_path = fast_path  # answer plain /invocations requests here (fast_path.py)
        self.model_name = model_name  # the model's name in the OIP routes
        self.keys = keys  # None: no key asked (a loopback server, or one opened on purpose)
        self.limits = limits = limits or Limits()
        self.admission = Admission(limits.max_queue)
        self.health = health  # what /health says; None: the app's own answer
        self.version_of = version_of
        self.model_of = model_of  # the ObservedModel being served (the fast path, OIP)
        self.metrics = metrics
        self.log_requests = log_requests
        self._log = logging.getLogger("iris_ml.serving")
        self._new_id = id_generator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan, websockets: MLflow's concern
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        context = RequestContext(request_id(headers, self._new_id))
        token = current_request.set(context)
        status = 500
        try:
            status = await self._answer(scope, headers, receive, send, context)
        finally:
            current_request.reset(token)
            elapsed = time.perf_counter() - started
            version = self.version_of()
            self.metrics.serving(version)
            self.metrics.request(scope["path"], status, elapsed)
            if self.log_requests:
                self._log_line(scope, context, status, elapsed, version)

    async def _answer(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        context: RequestContext,
    ) -> int:
        method, path = scope["method"], scope["path"]
        context.protocol = "oip" if oip.is_oip(path) else "mlflow"
        if self.keys is not None and needs_key(path):
            authorization = headers.get(b"authorization")
            if not self.keys.accepts(authorization):
                message, challenge_headers = challenge(authorization)
                refused = Refusal(401, message, "UNAUTHENTICATED", headers=challenge_headers)
                return await self._refuse(send, refused, context)
        if path == "/metrics" and method in ("GET", "HEAD"):
            context.answered_by = "layer"
            body, content_type = self.metrics.render()
            return await _send(send, 200, body, content_type, context.request_id)
        if method in ("GET", "HEAD") and (described := openapi.describe(path, self.model_name)):
            context.answered_by = "layer"
            body, media, extra = described
            return await _send(send, 200, body, media, context.request_id, list(extra))
        if path == "/health" and method in ("GET", "HEAD") and self.health is not None:
            context.answered_by = "layer"
            body = json.dumps(self.health()).encode()
            return await _send(send, 200, body, "application/json", context.request_id)
        if context.protocol == "oip":
            return await self._answer_oip(scope, headers, receive, send, context)
        if path != "/invocations" or method != "POST":
            return await self._forward(scope, receive, send, context, None)
        if busy := self.admission.enter():
            return await self._refuse(send, busy, context)
        try:
            return await self._score(scope, headers, receive, send, context)
        finally:
            self.admission.leave()

    async def _answer_oip(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        context: RequestContext,
    ) -> int:
        """A ``/v2`` request: the protocol's metadata and health, or an admitted inference."""
        found = oip.route(scope["path"])
        if found is None:
            return await self._refuse(
                send, Refusal(404, "no such endpoint of the protocol"), context
            )
        if scope["method"] not in (found.method, "HEAD" if found.method == "GET" else ""):
            allow = ((b"allow", found.method.encode()),)
            refused = Refusal(405, f"use {found.method} here", headers=allow)
            return await self._refuse(send, refused, context)
        model = self.model_of()
        if model is None and found.kind != "live":
            return await self._refuse(send, Refusal(503, "no model is loaded"), context)
        try:
            if found.model is not None:
                oip.check_model(found, self.model_name, model.version)
        except oip.OipError as exc:
            return await self._refuse(send, Refusal(exc.status, exc.message), context)
        if found.kind != "infer":
            context.answered_by = "layer"
            version = None if model is None else model.version
            body = json.dumps(self._oip_metadata(found, version)).encode()
            return await _send(send, 200, body, "application/json", context.request_id)
        if busy := self.admission.enter():
            return await self._refuse(send, busy, context)
        try:
            return await self._infer(model, headers, receive, send, context)
        finally:
            self.admission.leave()

    def _oip_metadata(self, found: oip.Route, version: str | None) -> dict[str, Any]:
        if found.kind == "server":
            return oip.server_metadata()
        if found.kind == "model":
            return oip.model_metadata(self.model_name, version)
        if found.kind == "model_ready":
            return {"name": self.model_name, "ready": True}
        # The layer answers only once its worker has loaded the model: ready, and live.
        return {found.kind: True}

    async def _infer(
        self,
        model: Any,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        context: RequestContext,
    ) -> int:
        """One admitted OIP inference: decoded, scored by the model below every protocol."""
        if refused := head_refusal(headers, self.limits.max_body_bytes):
            return await self._refuse(send, refused, context)
        if problem := oip.content_type_problem(headers):
            return await self._refuse(send, Refusal(415, problem), context)
        read = await read_body(receive, self.limits.max_body_bytes)
        if read is None:
            return 499
        if isinstance(read, Refusal):
            return await self._refuse(send, read, context)
        context.answered_by = "layer"
        try:
            if len(read) < INLINE_BODY_BYTES:
                answer = self._score_oip(model, read, headers)
            else:
                scoring = asyncio.to_thread(self._score_oip, model, read, headers)
                answer = await asyncio.wait_for(scoring, self.limits.timeout)
        except oip.OipError as exc:
            return await self._refuse(send, Refusal(exc.status, exc.message), context)
        except ModelRefusal as exc:
            return await self._refuse(send, Refusal(400, exc.message, INVALID_INPUT), context)
        except TimeoutError:
            return await self._refuse(send, self._too_slow(), context)
        except Exception:
            self._log.exception("request %s failed", context.request_id)
            return await self._refuse(send, Refusal(500, "the model failed to answer"), context)
        return await _send(send, 200, answer, "application/json", context.request_id)

    def _score_oip(self, model: Any, body: bytes, headers: Mapping[bytes, bytes]) -> bytes:
        request = oip.decode_infer(body, headers)
        scored = model.score_matrix(request.matrix)
        return oip.encode_infer(
            request, self.model_name, model.version, scored.species, scored.probabilities
        )

    def _too_slow(self) -> Refusal:
        return Refusal(
            504, f"scoring took longer than the server's limit of {self.limits.timeout:g} s"
        )

    async def _score(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        context: RequestContext,
    ) -> int:
        """One admitted ``POST /invocations``: refused, answered by the fast path or by MLflow."""
        if refused := head_refusal(headers, self.limits.max_body_bytes):
            return await self._refuse(send, refused, context)
        read = await read_body(receive, self.limits.max_body_bytes)
        if read is None:
            return 499  # the client went away before sending its request (nginx's code)
        if isinstance(read, Refusal):
            return await self._refuse(send, read, context)
        body = read
        if refused := refusal(headers, body):
            return await self._refuse(send, refused, context)
        try:
            plain = await self._answer_plain(headers, body)
        except TimeoutError:
            return await self._refuse(send, self._too_slow(), context)
        if plain is not None:
            context.answered_by = "fast_path"
            return await _send(send, 200, plain, "application/json", context.request_id)
        if refused := json_refusal(headers, body):
            return await self._refuse(send, refused, context)
        is_csv = headers.get(b"content-type", b"").lower().startswith(b"text/csv")
        csv_text = body.decode("utf-8") if is_csv else None
        return await self._forward(scope, _replay(body, receive), send, context, csv_text)

    async def _refuse(self, send: Send, refused: Refusal, context: RequestContext) -> int:
        context.answered_by = "layer"
        if refused.problems:
            self.metrics.refused(_rows_per_problem(refused.problems))
        code = refused.error_code or _status_name(refused.status)
        if context.protocol == "oip":
            body = oip.error_body(refused.message, context.request_id, code)
            extra = list(refused.headers)
            return await _send(
                send, refused.status, body, "application/json", context.request_id, extra
            )
        return await _send_error(
            send, refused.status, refused.message, context.request_id, code, list(refused.headers)
        )

    async def _answer_plain(self, headers: dict[bytes, bytes], body: bytes) -> bytes | None:
        """The answer to a plain request, or None for MLflow's handler to answer."""
        model = self.model_of() if self.fast_path else None
        if not getattr(model, "scores_plain", False):
            return None
        if not is_plain_json(headers.get(b"content-type", b"")):
            return None
        if len(body) < INLINE_BODY_BYTES:  # a thread hop costs more than a small request
            return self._score_plain(model, body)
        # Big ones in a thread, as MLflow's handler does: the loop keeps reading other requests.
        # Past the timeout the caller gets a 504; the thread finishes its rows unseen.
        scoring = asyncio.to_thread(self._score_plain, model, body)
        return await asyncio.wait_for(scoring, self.limits.timeout)

    def _score_plain(self, model: Any, body: bytes) -> bytes | None:
        matrix = plain_matrix(body)
        if matrix is None:
            return None
        try:
            return model.score_plain(matrix)
        except Exception:  # MLflow's handler answers it instead, as it would have anyway
            self._log.exception("the plain path failed; MLflow's handler answers")
            return None

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        context: RequestContext,
        csv_text: str | None,
    ) -> int:
        """Run the app; pass success through with the request id, rewrite every error answer."""
        rid = context.request_id
        held: list[bytes] = []
        sent = {"status": 0, "done": False}

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                if message["status"] < 400:
                    headers = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                    await send({**message, "headers": headers})
                return  # an error's head waits for its body, which is rewritten
            if message["type"] == "http.response.body" and sent["status"] >= 400:
                held.append(message.get("body", b""))
                if not message.get("more_body", False) and not sent["done"]:
                    sent["done"] = True
                    self._count_csv_refusal(sent["status"], csv_text)
                    body = error_body(sent["status"], b"".join(held), rid, csv_text)
                    await _send(send, sent["status"], body, "application/json", rid)
                return
            await send(message)

        try:
            lazy = isinstance(self.app, MayBeLoading)
            if lazy and not await self.app.ready(scope["path"], self.limits.timeout):
                return await self._refuse(send, _LOADING, context)
            await self.app(scope, receive, guarded)
        except Exception:
            # Starlette answers an unhandled error with a 500 (rewritten above), then re-raises.
            self._log.exception("request %s failed", rid)
            if not sent["status"]:
                await _send_error(send, 500, "the server failed to answer", rid)
            return 500
        return sent["status"] or 500

    def _count_csv_refusal(self, status: int, csv_text: str | None) -> None:
        if csv_text is not None and status == 400 and (cells := csv_cell_problems(csv_text)):
            self.metrics.refused(_rows_per_problem(cells))

    def _log_line(
        self,
        scope: Scope,
        context: RequestContext,
        status: int,
        elapsed: float,
        version: str | None,
    ) -> None:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "request_id": context.request_id,
            "method": scope["method"],
            "path": route_label(scope["path"]),
            "status": status,
            "latency_ms": round(elapsed * 1000, 3),
            "rows": context.rows,
            "model_version": version,
            "answered_by": context.answered_by,
        }
        _access_log.info(json.dumps(record))


def _rows_per_problem(cells: Iterable[RowError]) -> Counter[tuple[str | None, str]]:
    """Rows refused per (column, kind): a row with two bad cells in one column counts once."""
    return Counter((column, kind) for _, column, kind in {(c.row, c.column, c.kind) for c in cells})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then the real channel."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def again() -> Message:
        return pending.pop() if pending else await receive()

    return again


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    rid: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> int:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", rid.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


async def _send_error(
    send: Send,
    status: int,
    message: str,
    rid: str,
    error_code: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> int:
    code = error_code or _status_name(status)
    body = json.dumps({"error_code": code, "message": message, "request_id": rid}).encode()
    return await _send(send, status, body, "application/json", rid, extra)
