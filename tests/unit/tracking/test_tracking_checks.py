"""The tracking preflight: one sentence, no password, in seconds (servers here run in threads)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from iris_ml.tracking import store as tracking
from tests.procs import free_port


def test_describe_never_shows_the_password():
    uri = "postgresql+psycopg2://mlflow:s3cr3t-Pass@db.internal:5432/mlflow"  # pragma: allowlist secret
    assert tracking.describe(uri) == "postgresql+psycopg2://mlflow@db.internal:5432/mlflow"
    with_user = "http://user:pw@host:5000"  # pragma: allowlist secret
    assert tracking.describe(with_user) == "http://user@host:5000"
    assert tracking.describe("sqlite:///tmp/mlflow.db") == "sqlite:///tmp/mlflow.db"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("postgresql://a@b/c", True),
        ("postgresql+psycopg2://a@b/c", True),
        ("sqlite:///x.db", True),
        ("mysql+pymysql://a@b/c", True),
        ("http://127.0.0.1:5000", False),
        ("azureml://eastus.api.azureml.ms/mlflow/v1.0/x", False),
        ("file:///tmp/mlruns", False),
    ],
)
def test_database_uris_are_told_from_servers(uri, expected):
    assert tracking.is_database_uri(uri) is expected


def test_plain_postgresql_names_the_driver_to_use():
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3, which the lock does not have.
    uri = "postgresql://mlflow:pw@127.0.0.1:5432/mlflow"  # pragma: allowlist secret
    with pytest.raises(tracking.TrackingUnavailable) as caught:
        tracking.check_backend_store(uri)
    message = str(caught.value)
    assert "'psycopg'" in message and "postgresql+psycopg2://" in message
    assert ":pw@" not in message


def test_an_unreachable_database_is_one_sentence_in_seconds():
    uri = f"postgresql+psycopg2://mlflow:pw@127.0.0.1:{free_port()}/mlflow"  # pragma: allowlist secret
    started = time.monotonic()
    with pytest.raises(tracking.TrackingUnavailable, match="Connection refused") as caught:
        tracking.check_backend_store(uri)
    assert time.monotonic() - started < 10
    assert ":pw@" not in str(caught.value) and "\n" not in str(caught.value)


def test_sqlite_and_unknown_artifact_schemes_need_nothing():
    tracking.check_backend_store("sqlite:///nowhere/mlflow.db")
    tracking.check_artifacts_destination("/srv/artifacts")
    tracking.check_artifacts_destination("s3://bucket/x")  # boto3 is in the lock


def test_a_missing_artifact_store_package_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(tracking.TrackingUnavailable, match=r"'boto3'.*s3 extra"):
        tracking.check_artifacts_destination("s3://bucket/x")


@contextmanager
def fake_server(routes: dict[str, tuple[int, str, str]]) -> Iterator[str]:
    """An HTTP server answering each path with (status, content type, body); else 404 JSON."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, kind, body = routes.get(
                self.path.split("?")[0], (404, "application/json", '{"error_code": "NOT_FOUND"}')
            )
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SEARCH = "/api/2.0/mlflow/experiments/search"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def test_a_server_without_an_artifact_proxy_passes():
    with fake_server({SEARCH: (200, "application/json", '{"experiments": []}')}) as base:
        tracking.check_tracking_server(base)


def test_a_server_whose_artifact_store_fails_is_one_sentence_without_retries():
    routes = {
        SEARCH: (200, "application/json", '{"experiments": []}'),
        ARTIFACTS: (500, "text/html", "<!doctype html><title>500 Internal Server Error</title>"),
    }
    started = time.monotonic()
    with fake_server(routes) as base, pytest.raises(tracking.TrackingUnavailable) as caught:
        tracking.check_tracking_server(base)
    message = str(caught.value)
    assert "cannot use its artifact store: HTTP 500" in message and "boto3" in message
    assert "<!doctype" not in message
    assert time.monotonic() - started < 5  # MLflow's own client would retry for minutes


def test_a_server_whose_database_fails_passes_its_message_on():
    body = json.dumps(
        {"error_code": "INTERNAL_ERROR", "message": "could not connect to server\nmore"}
    )
    routes = {SEARCH: (500, "application/json", body)}
    with fake_server(routes) as base, pytest.raises(tracking.TrackingUnavailable) as caught:
        tracking.check_tracking_server(base)
    assert str(caught.value).endswith(
        "cannot use its backend store: HTTP 500, could not connect to server."
    )


def test_nothing_listening_is_one_sentence():
    with pytest.raises(tracking.TrackingUnavailable, match="Cannot reach the tracking server"):
        tracking.check_tracking_server(f"http://127.0.0.1:{free_port()}")


def test_azure_and_file_uris_are_not_probed():
    tracking.check_tracking_uri("azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/x")
    tracking.check_tracking_uri("file:///tmp/mlruns")


@pytest.mark.parametrize(
    ("passthrough", "expected"),
    [
        (["--app-name", "basic-auth"], True),
        (["--workers", "4", "--app-name=basic-auth"], True),
        (["--app-name", "other"], False),
        (["basic-auth"], False),
        ([], False),
    ],
)
def test_basic_auth_is_prepared_only_when_asked_for(passthrough, expected):
    from iris_ml.tracking.server import uses_basic_auth

    assert uses_basic_auth(passthrough) is expected


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({}, "basic auth needs MLFLOW_FLASK_SERVER_SECRET_KEY"),
        ({"MLFLOW_FLASK_SERVER_SECRET_KEY": "k"}, "basic auth needs MLFLOW_AUTH_CONFIG_PATH"),
    ],
)
def test_basic_auth_without_its_key_or_own_config_is_refused_before_anything(
    monkeypatch, capsys, environ, says
):
    from iris_ml.tracking import server

    for name in ("MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_AUTH_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(server, "prepare_basic_auth", lambda: pytest.fail("prepared anyway"))
    monkeypatch.setattr(server.os, "execve", lambda *a: pytest.fail("started anyway"))
    assert server.main(["--app-name", "basic-auth"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {says}") and err.count("\n") == 1


def test_basic_auth_with_both_goes_on():
    from iris_ml.tracking.server import basic_auth_refusal

    assert basic_auth_refusal({"MLFLOW_FLASK_SERVER_SECRET_KEY": "k",
                               "MLFLOW_AUTH_CONFIG_PATH": "/x.ini"}) is None  # fmt: skip
