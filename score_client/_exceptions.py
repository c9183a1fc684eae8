"""One exception tree for score_client; nothing from httpx leaks out untranslated.

ScoringError
├── InvalidInputError            rows broke the feature contract (predict() sends nothing)
├── TableError                   a CSV that is no usable table (no header, too large, unreadable)
├── CredentialError              no Microsoft Entra token could be had (nothing was sent)
├── APIConnectionError           the endpoint could not be reached
│   └── APITimeoutError
├── UnexpectedResponseError      a 2xx whose body is not the contract's shape
└── APIStatusError               the server answered non-2xx (status_code, message)
    ├── BadRequestError          400: the server rejected the input
    ├── AuthenticationError      401
    ├── PermissionDeniedError    403
    ├── NotFoundError            404
    ├── RequestTooLargeError     413
    ├── ModelError               424: Azure ML's container answered an error
    ├── RateLimitError           429
    └── InternalServerError      5xx
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from iris_ml.contract import RowError, format_row_errors

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CredentialError",
    "InternalServerError",
    "InvalidInputError",
    "ModelError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "ScoringError",
    "TableError",
    "UnexpectedResponseError",
]


class ScoringError(Exception):
    """Base of every error score_client raises."""


class InvalidInputError(ScoringError):
    """Rows that break the feature contract; ``predict()`` raises it before sending anything."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__(f"invalid input: {format_row_errors(self.errors)}")


class TableError(ScoringError, ValueError):
    """The file is not a usable CSV table (no header, unreadable, too large)."""


class CredentialError(ScoringError):
    """No Microsoft Entra token for the endpoint: no key set, and the credential failed."""


class APIConnectionError(ScoringError):
    """The endpoint could not be reached (refused, DNS, reset)."""


class APITimeoutError(APIConnectionError):
    """The endpoint did not answer in time."""


class UnexpectedResponseError(ScoringError):
    """A success status with a body that is not the scoring contract."""


class APIStatusError(ScoringError):
    """The server answered with a non-success status.

    ``request_id`` is the id the server answered with (``x-request-id``): the one in its
    logs, its payload log or Azure's collected rows and App Insights, to quote when asking.
    """

    request_id: str | None = None

    def __init__(self, status_code: int, message: str, *, row_range: tuple[int, int] | None = None):
        self.status_code = status_code
        self.message = message
        self.row_range = row_range
        where = f" (rows {row_range[0]}-{row_range[1] - 1})" if row_range else ""
        super().__init__(f"HTTP {status_code}{where}: {message}")


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class RequestTooLargeError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class ModelError(APIStatusError):
    """Azure ML's 424: the scoring container failed; its own status and reason come along."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        model_status_code: int | None = None,
        model_reason: str | None = None,
        row_range: tuple[int, int] | None = None,
    ):
        self.model_status_code = model_status_code
        self.model_reason = model_reason
        detail = message
        if model_status_code is not None:
            detail = f"model answered {model_status_code}: {model_reason or message}"
        super().__init__(status_code, detail, row_range=row_range)


_BY_STATUS: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    429: RateLimitError,
}


def status_error(
    status_code: int,
    message: str,
    headers: Mapping[str, str],
    row_range: tuple[int, int] | None = None,
) -> APIStatusError:
    """The one place that maps an HTTP status to an exception class."""
    error = _status_error(status_code, message, headers, row_range)
    error.request_id = headers.get("x-request-id")
    return error


def _status_error(
    status_code: int,
    message: str,
    headers: Mapping[str, str],
    row_range: tuple[int, int] | None,
) -> APIStatusError:
    if status_code == 424:
        model_status = headers.get("ms-azureml-model-error-statuscode")
        return ModelError(
            status_code,
            message,
            model_status_code=int(model_status)
            if model_status and model_status.isdigit()
            else None,
            model_reason=headers.get("ms-azureml-model-error-reason"),
            row_range=row_range,
        )
    if status_code >= 500:
        return InternalServerError(status_code, message, row_range=row_range)
    cls = _BY_STATUS.get(status_code, APIStatusError)
    return cls(status_code, message, row_range=row_range)
