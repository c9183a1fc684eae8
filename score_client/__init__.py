"""score_client: one Python client and CLI for the Iris classifier's endpoints.

Works against ``mlflow models serve`` (``/invocations``) and Azure ML managed
online endpoints (``/score``) with the same calls::

    from score_client import ScoringClient

    with ScoringClient("http://127.0.0.1:5001") as client:
        [prediction] = client.predict([{"sepal_length": 5.1, "sepal_width": 3.5,
                                        "petal_length": 1.4, "petal_width": 0.2}])
        prediction.species, prediction.probabilities

Installs with httpx only: no MLflow, scikit-learn, pandas, Gradio or Azure SDK.
"""

from score_client._client import (
    ClientSettings,
    ScoringClient,
    describe_error,
    resolve_settings,
    validate_rows,
)
from score_client._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidInputError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ScoringError,
    UnexpectedResponseError,
)
from score_client._types import Health, IrisFeatures, Prediction

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientSettings",
    "Health",
    "InternalServerError",
    "InvalidInputError",
    "IrisFeatures",
    "ModelError",
    "NotFoundError",
    "PermissionDeniedError",
    "Prediction",
    "RateLimitError",
    "RequestTooLargeError",
    "ScoringClient",
    "ScoringError",
    "UnexpectedResponseError",
    "describe_error",
    "resolve_settings",
    "validate_rows",
]
