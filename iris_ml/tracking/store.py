"""Is the tracking store usable? One sentence when it is not, in seconds, before any work.

Without these checks a team member meets MLflow's own failure modes: a missing
database driver is a traceback from ``mlflow server``, and a client facing a
server that answers 500 (its database down, ``No module named 'boto3'`` for an
``s3://`` artifacts destination) retries with backoff for about four minutes
before it gives up. Each check here asks once, with a short timeout, and never
puts a password in its sentence.
"""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

from iris_ml.contract import PAYLOAD_SOURCE_FILE

# Backend store schemes that are SQLAlchemy URLs (MLflow's own list, mlflow.store.db.db_types).
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# What an artifacts destination needs in the server's environment, and the extra that has it.
ARTIFACT_STORE_MODULES: dict[str, tuple[tuple[str, ...], str]] = {
    "s3": (("boto3",), "s3"),
    "wasbs": (("azure.storage.blob", "azure.identity"), "azure"),
    "abfss": (("azure.storage.filedatalake", "azure.identity"), "azure"),
    "gs": (("google.cloud.storage",), "gcs (not shipped: pip install google-cloud-storage)"),
}
# What MLflow's clients read their credentials from (mlflow.utils.credentials).
AUTH_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
POSTGRES_DRIVER_HINT = (
    "write the URI as postgresql+psycopg2://... (the project ships psycopg2 in its 'postgres' "
    "extra; MLflow 3.15's registry fails on psycopg 3, mlflow/mlflow#24514)"
)


class TrackingUnavailable(Exception):
    """The tracking store cannot be used; the message is one sentence for a person."""


def is_database_uri(uri: str) -> bool:
    return uri.split(":", 1)[0].split("+", 1)[0] in DATABASE_SCHEMES


def describe(uri: str) -> str:
    """The URI without its password (or any user info), for messages and logs."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_backend_store(uri: str, timeout: float = 5.0) -> None:
    """A database backend store has its driver and answers a query within ``timeout``."""
    if not is_database_uri(uri) or uri.startswith("sqlite"):
        return
    import sqlalchemy

    url = sqlalchemy.engine.make_url(uri)
    try:
        engine = sqlalchemy.create_engine(url, connect_args=_connect_timeout(url, timeout))
    except ModuleNotFoundError as exc:
        hint = POSTGRES_DRIVER_HINT if url.get_backend_name() == "postgresql" else ""
        raise TrackingUnavailable(
            f"The backend store {describe(uri)} needs the Python module '{exc.name}', which "
            f"is not installed{'; ' + hint if hint else ''}."
        ) from None
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise TrackingUnavailable(f"Cannot use the database {describe(uri)}: {reason}.") from None
    finally:
        engine.dispose()


def _connect_timeout(url, timeout: float) -> dict[str, object]:
    # Each driver spells it differently; libpq's is whole seconds.
    backend = url.get_backend_name()
    if backend == "postgresql":
        return {"connect_timeout": max(1, int(timeout))}
    if backend == "mysql":
        return {"connect_timeout": int(timeout)}
    return {}


def check_artifacts_destination(uri: str) -> None:
    """The server's environment has the package its artifact store needs."""
    scheme = urlsplit(uri).scheme
    if scheme not in ARTIFACT_STORE_MODULES:
        return
    modules, extra = ARTIFACT_STORE_MODULES[scheme]
    for module in modules:
        if not _installed(module):
            raise TrackingUnavailable(
                f"The artifacts destination {describe(uri)} needs the Python module "
                f"'{module}', which is not installed; install the project's {extra} extra "
                "in the server's environment."
            )


def _installed(module: str) -> bool:
    # Found, not imported: no import side effects (MLflow hooks boto3's import) and no cost.
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def check_tracking_server(uri: str, timeout: float = 10.0) -> None:
    """An ``http(s)://`` tracking server answers a search and, if it proxies artifacts, a listing.

    One try each, no retries: a server that fails here would fail every call of a training
    run, after minutes of MLflow's retries.
    """
    if urlsplit(uri).scheme not in ("http", "https"):
        return
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    _check_listening(uri, timeout)
    creds = get_default_host_creds(uri)
    probes = (
        ("/api/2.0/mlflow/experiments/search", {"max_results": 1}, "its backend store", ""),
        (
            "/api/2.0/mlflow-artifacts/artifacts",
            {"path": ""},
            "its artifact store",
            " (is the destination's package, e.g. boto3 for s3://, installed on the server, "
            "and can the server reach it?)",
        ),
    )
    for endpoint, params, what, hint in probes:
        try:
            response = http_request(
                creds, endpoint, "GET", max_retries=0, timeout=timeout, params=params,
                raise_on_status=False,
            )  # fmt: skip
        except Exception as exc:  # requests' connection errors, wrapped by MLflow
            raise TrackingUnavailable(
                f"Cannot reach the tracking server at {describe(uri)}: {_first_line(exc)}."
            ) from None
        if response.status_code == 404:
            continue  # not served here (no artifact proxy, or Azure ML): nothing to check
        if response.status_code in (401, 403):
            raise TrackingUnavailable(_auth_refusal(uri, response.status_code))
        if response.status_code >= 400:
            raise TrackingUnavailable(
                f"The tracking server at {describe(uri)} cannot use {what}: HTTP "
                f"{response.status_code}, {_server_message(response)}{hint}."
            )


def _auth_refusal(uri: str, status: int) -> str:
    """Which credentials were refused, and which variables MLflow reads them from."""
    import os

    given = [v for v in AUTH_ENV if os.environ.get(v)]
    if status == 403:
        who = os.environ.get("MLFLOW_TRACKING_USERNAME") or "these credentials"
        return (
            f"The tracking server at {describe(uri)} refused access (HTTP 403): {who} may not "
            "use this experiment or model; ask its admin for a permission."
        )
    sent = f"the credentials in {' and '.join(given)} were refused" if given else "none were sent"
    return (
        f"The tracking server at {describe(uri)} needs you to log in (HTTP 401; {sent}): set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN."
    )


def _check_listening(uri: str, timeout: float) -> None:
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TrackingUnavailable(
            f"Cannot reach the tracking server at {describe(uri)}: {reason}."
        ) from None


def _server_message(response) -> str:
    # MLflow's handlers answer JSON with a message; an unhandled error is Flask's HTML page.
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = ""
    return _first_line(message) if message else "no details in the answer (see the server's log)"


def _first_line(value: object, limit: int = 300) -> str:
    text = str(value).strip()
    line = text.splitlines()[0] if text else ""
    return line[:limit].rstrip(".")


def check_tracking_uri(uri: str) -> None:
    """The check that fits a client's ``MLFLOW_TRACKING_URI``: a database, or a server."""
    if is_database_uri(uri):
        check_backend_store(uri)
    else:
        check_tracking_server(uri)


def tracking_refusal() -> str | None:
    """Why MLflow's current tracking URI cannot be used (one sentence), or None.

    The registry's CLIs ask first: without it, an unreachable server means minutes of
    MLflow's silent retries before any message.
    """
    import mlflow

    try:
        check_tracking_uri(mlflow.get_tracking_uri())
    except TrackingUnavailable as exc:
        return str(exc)
    return None


def experiment_id(name: str) -> str:
    """The experiment's id, created if it is new, without the line ``mlflow.set_experiment``
    logs the first time (a newcomer's ``make monitor`` would print it for nothing)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


def payload_source(model_name: str) -> dict[str, str]:
    """Which store and model a server scores for, as its payload folder records it."""
    import mlflow

    return {"tracking_uri": describe(mlflow.get_tracking_uri()), "model_name": model_name}


def source_mismatch(folder: Path, model_name: str) -> str | None:
    """Why the payloads in ``folder`` are not this store's model's, or None.

    A folder without a source record (written before servers kept one) is not refused.
    """
    path = folder / PAYLOAD_SOURCE_FILE
    try:
        recorded = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})"
    except ValueError:
        return f"{path} is not a source record (JSON): move it away or start a new folder"
    expected = payload_source(model_name)
    if recorded == expected:
        return None
    return (
        f"the payloads in {folder} were scored for {recorded.get('model_name')} in "
        f"{recorded.get('tracking_uri')}, not {model_name} in {expected['tracking_uri']}: "
        "use that store (MLFLOW_TRACKING_URI), or a folder of this store's own"
        " (make serve PAYLOADS=payloads-team, and the same PAYLOADS for make monitor)"
    )


def store_refused(prefix: str = "error", wait: float = 0.0) -> bool:
    """Say on stderr why the tracking store cannot be used, if it cannot; True then.

    Every command that reads or writes the registry asks this first, waiting up to ``wait``
    seconds for a store that is still starting.
    """
    import sys

    import mlflow

    from iris_ml.processes import wait_for

    where = f"the tracking store {describe(mlflow.get_tracking_uri())}"
    refusal = wait_for(tracking_refusal, wait, where) if wait else tracking_refusal()
    if refusal:
        print(f"{prefix}: {refusal}", file=sys.stderr)
    return refusal is not None


def main(argv: list[str] | None = None) -> int:
    """``iris-ml check-tracking``: can ``$MLFLOW_TRACKING_URI`` be used? (``make train`` asks first)."""
    from iris_ml.commands import EXIT_OK, EXIT_USAGE, command_parser

    command_parser("check-tracking", __doc__).parse_args(argv)
    return EXIT_USAGE if store_refused() else EXIT_OK


if __name__ == "__main__":
    import sys

    sys.exit(main())
