"""score_client: one Python client and CLI for the Iris classifier's endpoints.

Works against ``mlflow models serve`` (``/invocations``) and Azure ML managed
online endpoints (``/score``) with the same calls::

    from score_client import ScoringClient

    with ScoringClient("http://127.0.0.1:5001") as client:
        [prediction] = client.predict([{"sepal_length": 5.1, "sepal_width": 3.5,
                                        "petal_length": 1.4, "petal_width": 0.2}])
        prediction.species, prediction.probabilities

        # A CSV of any size: scored in blocks while it is read; bad rows reported by row.
        with open("flowers.csv", newline="") as source:
            table = score_csv(client, source)

Installs with httpx only: no MLflow, scikit-learn, pandas, Gradio or Azure SDK.
"""

from score_client._client import (
    Block,
    ClientSettings,
    ScoringClient,
    Tuning,
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
    CredentialError,
    InternalServerError,
    InvalidInputError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ScoringError,
    TableError,
    UnexpectedResponseError,
)
from score_client._tables import (
    CsvWriter,
    ScoredTable,
    score_csv,
    score_records,
    to_csv_text,
    write_csv,
)
from score_client._types import Health, IrisFeatures, Prediction

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "Block",
    "ClientSettings",
    "CredentialError",
    "CsvWriter",
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
    "ScoredTable",
    "ScoringClient",
    "ScoringError",
    "TableError",
    "Tuning",
    "UnexpectedResponseError",
    "describe_error",
    "resolve_settings",
    "score_csv",
    "score_records",
    "to_csv_text",
    "validate_rows",
    "write_csv",
]
