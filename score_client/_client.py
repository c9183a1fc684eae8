"""ScoringClient: predictions from an MLflow scoring server or an Azure ML online endpoint."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

import httpx

from iris_ml.contract import (
    FEATURE_NAMES,
    MAX_ROWS_PER_REQUEST,
    MODEL_VERSION_KEY,
    PROBABILITIES_KEY,
    SPECIES_KEY,
    TEXTBOOK_FLOWERS,
    RowError,
)
from iris_ml.contract import validate_records as _validate_records
from score_client import _retry
from score_client._auth import EntraTokenAuth, TokenCredential, default_credential
from score_client._backends import (
    AZURE_HOST_SUFFIX,
    BACKENDS,
    Backend,
    decode_json,
    decode_predictions,
    detect_backend,
    error_message,
    redact_url,
    scoring_url,
)
from score_client._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    ScoringError,
    UnexpectedResponseError,
    status_error,
)
from score_client._types import Health, IrisFeatures, Prediction

URL_ENV = "SCORING_URI"
KEY_ENV = "SCORING_KEY"
DEPLOYMENT_ENV = "SCORING_DEPLOYMENT"
DEFAULT_TIMEOUT = 30.0  # seconds per request
DEFAULT_MAX_RETRIES = 2
DEFAULT_RETRY_BUDGET = 60.0  # seconds across all attempts of one request
DEFAULT_CHUNK_SIZE = 10_000  # rows per request
DEFAULT_CONCURRENCY = 2  # requests in flight for chunked inputs
# A clear-cut setosa: what health() scores to learn that the model answers, and which.
PROBE_VALUES = list(TEXTBOOK_FLOWERS[0][0])  # a known setosa, in FEATURE_NAMES order

Rows = Any  # a sequence of mappings or IrisFeatures, or a pandas DataFrame
# Validated rows as value lists in FEATURE_NAMES order, and the (start, end) input rows they cover.
Block = tuple[Sequence[Sequence[float]], tuple[int, int]]


def to_prediction(decoded: Mapping[str, Any]) -> Prediction:
    """One prediction as decode_predictions() checked it."""
    return Prediction(
        species=decoded[SPECIES_KEY],
        probabilities={k: float(v) for k, v in decoded[PROBABILITIES_KEY].items()},
        model_version=str(decoded[MODEL_VERSION_KEY]) if decoded.get(MODEL_VERSION_KEY) else None,
    )


class Tuning(TypedDict, total=False):
    """How ScoringClient sends: keyword arguments of it and of resolve_settings.

    Their defaults and checks live in ClientSettings; mypy holds the two to the same
    names and types (``ClientSettings(**tuning)``).
    """

    timeout: float
    max_retries: int
    retry_budget: float
    chunk_size: int
    concurrency: int


@dataclass(frozen=True)
class ClientSettings:
    """Resolved settings: explicit argument, then environment variable, then default."""

    url: str
    backend: Backend
    api_key: str | None = None
    deployment: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_budget: float = DEFAULT_RETRY_BUDGET
    chunk_size: int = DEFAULT_CHUNK_SIZE
    concurrency: int = DEFAULT_CONCURRENCY

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_size <= MAX_ROWS_PER_REQUEST:
            raise ValueError(f"chunk_size must be within 1..{MAX_ROWS_PER_REQUEST}")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout <= 0:
            raise ValueError("concurrency must be >= 1, max_retries >= 0 and timeout > 0")

    def __repr__(self) -> str:  # the key never appears, not even in a traceback's locals
        key = "set" if self.api_key else "none"
        return (
            f"ClientSettings(url={redact_url(self.url)!r}, backend={self.backend.name!r}, "
            f"api_key=<{key}>, deployment={self.deployment!r})"
        )


def resolve_settings(
    url: str | None = None,
    *,
    api_key: str | None = None,
    deployment: str | None = None,
    backend: str | None = None,
    environ: Mapping[str, str] | None = None,
    **tuning: Unpack[Tuning],
) -> ClientSettings:
    env = os.environ if environ is None else environ
    url = url or env.get(URL_ENV)
    if not url:
        raise ValueError(f"no endpoint URL: pass url= or set {URL_ENV}")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    chosen = BACKENDS[backend] if backend else detect_backend(url)
    return ClientSettings(
        url=scoring_url(url, chosen),
        backend=chosen,
        api_key=api_key or env.get(KEY_ENV) or None,
        deployment=deployment or env.get(DEPLOYMENT_ENV) or None,
        **tuning,
    )


def to_records(rows: Rows) -> list[Any]:
    """Accept a DataFrame, IrisFeatures, or mappings; return a list (items not yet validated)."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas, without importing it
        return [_plain_numbers(r) for r in rows.to_dict(orient="records")]
    if isinstance(rows, (Mapping, IrisFeatures)):
        rows = [rows]
    return [r.as_record() if isinstance(r, IrisFeatures) else r for r in rows]


def validate_rows(rows: Rows) -> tuple[list[dict[str, float]], list[RowError]]:
    """The contract's validation, for callers that score the good rows and report the rest."""
    return _validate_records(to_records(rows))


def _plain_numbers(record: Any) -> Any:
    # numpy scalars from a DataFrame become Python numbers; nothing else is converted.
    return {
        k: (v.item() if hasattr(v, "item") and hasattr(v, "dtype") else v)
        for k, v in record.items()
    }


class ScoringClient:
    """Predictions from an MLflow ``/invocations`` or an Azure ML ``/score`` endpoint.

    >>> with ScoringClient("http://127.0.0.1:5001") as client:  # doctest: +SKIP
    ...     client.predict([{"sepal_length": 5.1, "sepal_width": 3.5,
    ...                      "petal_length": 1.4, "petal_width": 0.2}])[0].species
    'setosa'

    The key comes from ``api_key`` or ``SCORING_KEY`` and is never shown in
    ``repr``, logs or errors. Without a key, an Azure ML endpoint
    (``*.inference.ml.azure.com``) gets a Microsoft Entra token from ``credential``
    (default: azure-identity's ``DefaultAzureCredential``), renewed before it expires.
    Inputs larger than ``chunk_size`` rows are sent in chunks, ``concurrency`` at a
    time, and reassembled in input order. The keyword settings ``timeout``,
    ``max_retries``, ``retry_budget``, ``chunk_size`` and ``concurrency`` (``Tuning``)
    take their defaults from ``ClientSettings``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        deployment: str | None = None,
        backend: str | None = None,
        credential: TokenCredential | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **tuning: Unpack[Tuning],
    ) -> None:
        self.settings = resolve_settings(
            url, api_key=api_key, deployment=deployment, backend=backend, **tuning
        )
        timeout, concurrency = self.settings.timeout, self.settings.concurrency
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(
                max_connections=concurrency * 2, max_keepalive_connections=concurrency
            ),
        )
        self._headers = self.settings.backend.headers(
            self.settings.api_key, self.settings.deployment
        )
        # An http_client's own auth stays unless a token replaces it.
        self._auth = entra_auth(self.settings, credential) or httpx.USE_CLIENT_DEFAULT
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"ScoringClient({redact_url(self.settings.url)!r}, backend={self.settings.backend.name!r})"

    @property
    def url(self) -> str:
        """The endpoint URL, safe to display (no credentials, no query)."""
        return redact_url(self.settings.url)

    def __enter__(self) -> ScoringClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def predict(
        self, rows: Rows, *, on_progress: Callable[[int, int], None] | None = None
    ) -> list[Prediction]:
        """Score rows; validates them against the contract first and sends nothing if any is bad.

        ``on_progress(done_rows, total_rows)`` is called as chunks complete.
        """
        valid, errors = validate_rows(rows)
        if errors:
            raise InvalidInputError(errors)
        if not valid:
            raise InvalidInputError([RowError(0, None, "no rows to score")])
        return self._predict_valid(valid, on_progress)

    def _predict_valid(
        self, rows: Sequence[dict[str, float]], on_progress: Callable[[int, int], None] | None
    ) -> list[Prediction]:
        size = self.settings.chunk_size

        def block(start: int) -> Block:
            end = min(start + size, len(rows))
            return [[row[name] for name in FEATURE_NAMES] for row in rows[start:end]], (start, end)

        results: list[Prediction] = []
        for decoded in self.score_blocks(map(block, range(0, len(rows), size))):
            results.extend(map(to_prediction, decoded))
            if on_progress:
                on_progress(len(results), len(rows))
        return results

    def score_blocks(self, blocks: Iterable[Block]) -> Iterator[list[dict[str, Any]]]:
        """Score blocks of validated rows; the decoded predictions of each block, in block order.

        A block is the rows' values in FEATURE_NAMES order, already valid under the
        contract, and the (start, end) input rows they cover (named in errors). This is
        the streaming path ``score_csv`` uses; ``predict`` validates rows and calls it.

        Up to ``concurrency`` requests are in flight and one more is queued. Blocks are
        pulled from ``blocks`` only as room frees up, so a caller that produces them while
        reading its input overlaps the reading with the scoring, and memory stays bounded.
        """
        limit = self.settings.concurrency
        if limit == 1:
            for values, span in blocks:
                yield self._post_values(values, span)
            return
        pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="score-client")
        pending: deque[Future[list[dict[str, Any]]]] = deque()
        try:
            for values, span in blocks:
                pending.append(pool.submit(self._post_values, values, span))
                if len(pending) > limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            # A failed block ends the run: queued blocks are dropped, not sent.
            pool.shutdown(wait=True, cancel_futures=True)

    def _post_values(
        self, values: Sequence[Sequence[float]], span: tuple[int, int]
    ) -> list[dict[str, Any]]:
        """POST one block of validated rows; its predictions, checked against the contract."""
        response = self._send(self.settings.backend.encode(values), span)
        try:
            return decode_predictions(decode_json(response.content), len(values))
        except ValueError as exc:
            raise UnexpectedResponseError(f"rows {span[0]}-{span[1] - 1}: {exc}") from None

    def _send(self, body: bytes, span: tuple[int, int]) -> httpx.Response:
        """POST with the retry policy; translate every transport failure."""
        deadline = time.monotonic() + self.settings.retry_budget
        attempt = 0
        while True:
            status: int | None = None
            retry_after: float | None = None
            try:
                response = self._http.post(
                    self.settings.url, content=body, headers=self._headers, auth=self._auth
                )
            except httpx.TimeoutException:
                failure: ScoringError = APITimeoutError(
                    f"no answer from {self.url} within {self.settings.timeout:g} s"
                )
            except httpx.TransportError as exc:
                failure = APIConnectionError(f"cannot reach {self.url}: {type(exc).__name__}")
            else:
                if response.is_success:
                    return response
                status = response.status_code
                retry_after = _retry.parse_retry_after(response.headers.get("retry-after"))
                failure = status_error(
                    status,
                    error_message(response.content, response.headers.get("content-type", "")),
                    response.headers,
                    row_range=span,
                )
            if not _retry.should_retry(status, attempt, self.settings.max_retries, retry_after):
                raise failure
            delay = _retry.retry_delay(attempt, retry_after)
            if time.monotonic() + delay > deadline:
                raise failure
            self._sleep(delay)
            attempt += 1

    def health(self) -> Health:
        """Score one known flower: is the endpoint up, and which model version answers?"""
        started = time.perf_counter()
        try:
            prediction = to_prediction(self._post_values([PROBE_VALUES], (0, 1))[0])
        except ScoringError as exc:
            return Health(False, self.url, self.settings.backend.name, error=str(exc))
        latency = (time.perf_counter() - started) * 1000
        return Health(True, self.url, self.settings.backend.name, prediction.model_version, latency)


def entra_auth(
    settings: ClientSettings, credential: TokenCredential | None
) -> EntraTokenAuth | None:
    """Token auth when no key is set and a credential is given or the host is Azure ML's.

    A local ``azmlinfsrv`` or MLflow server needs neither; a key always wins.
    """
    if settings.api_key:
        return None
    if credential is None:
        host = (urlsplit(settings.url).hostname or "").lower()
        if not host.endswith(AZURE_HOST_SUFFIX):
            return None
        credential = default_credential()
    return EntraTokenAuth(credential)


def describe_error(exc: ScoringError) -> str:
    """A one-line explanation a person can act on."""
    if isinstance(exc, APITimeoutError):
        return f"The endpoint did not answer in time. {exc}"
    if isinstance(exc, APIConnectionError):
        return f"The endpoint is unreachable. {exc}"
    if isinstance(exc, APIStatusError) and exc.status_code in (401, 403):
        return (
            f"The endpoint refused the credentials (HTTP {exc.status_code}): check SCORING_KEY, "
            "or, with a Microsoft Entra token, that your identity may score on this endpoint."
        )
    if isinstance(exc, APIStatusError) and 400 <= exc.status_code < 500:
        return f"The endpoint rejected the request: {exc.message}"
    return str(exc)


__all__ = [
    "ClientSettings",
    "ScoringClient",
    "Tuning",
    "describe_error",
    "resolve_settings",
    "to_records",
    "validate_rows",
]
