"""A stand-in for an Azure ML workspace's MLflow endpoint: a real ``mlflow server`` behind a
loopback proxy that refuses, the way Azure does, the routes Azure does not support.

Built from what Microsoft documents, not from what our code calls:

* Which MLflow APIs a workspace supports: the support matrices in "Manage models registry
  in Azure Machine Learning with MLflow"
  (https://learn.microsoft.com/azure/machine-learning/how-to-manage-models-mlflow, section
  "Support matrix for managing models with MLflow") and "Query & compare experiments and
  runs with MLflow"
  (https://learn.microsoft.com/azure/machine-learning/how-to-track-experiments-mlflow,
  section "Support matrix for querying runs and experiments"). Registered models, model
  versions, their tags and search are listed; model aliases and MLflow 3's logged models
  are not; logging dataset inputs (``log_input``) is not documented.
* How a refused route answers: HTTP 404 with an empty body, which MLflow's client turns
  into ``ENDPOINT_NOT_FOUND`` (Azure/azure-sdk-for-python#44896 shows it for
  ``/api/2.0/mlflow/logged-models``).

Everything else is forwarded to the real server unchanged. ``REFUSED`` is data: add a
route there when a doc says Azure lacks it.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (route pattern, why it is refused). Matched against the path without the query string,
# for the REST API and the UI's ajax-api mirror of it.
REFUSED: tuple[tuple[str, str], ...] = (
    (r"/api/2\.0/mlflow/logged-models(/.*)?", "logged models: not in the support matrix; #44896"),
    (r"/api/2\.0/mlflow/registered-models/alias", "model aliases: not in the support matrix"),
    (r"/api/2\.0/mlflow/runs/log-inputs", "dataset inputs (log_input): not documented"),
    (r"/api/2\.0/mlflow/runs/outputs", "logged-model outputs of a run: MLflow 3 only"),
)
ALIAS_ROUTES = ("registered-models/alias",)
_FORWARDED_HEADERS_SKIPPED = {"connection", "keep-alive", "transfer-encoding", "host"}


@dataclass
class AzureShapedServer:
    """The proxy's address and what it refused, in order: ``"METHOD /path"`` strings."""

    url: str
    refused: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def _refusal(path: str, allow_aliases: bool) -> str | None:
    route = path.split("?", 1)[0].replace("/ajax-api/", "/api/", 1)
    for pattern, reason in REFUSED:
        if allow_aliases and any(a in pattern.replace("\\", "") for a in ALIAS_ROUTES):
            continue
        if re.fullmatch(pattern, route):
            return reason
    return None


@contextmanager
def azure_shaped(upstream: str, *, allow_aliases: bool = False) -> Iterator[AzureShapedServer]:
    """Serve the proxy on a free loopback port in front of ``upstream`` (http://host:port)."""
    host, port = upstream.removeprefix("http://").rstrip("/").split(":")
    record = AzureShapedServer(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reason = _refusal(self.path, allow_aliases)
            if reason:
                line = f"{self.command} {self.path.split('?', 1)[0]}"
                record.refused.append(line)
                record.log.append(f"refused {line} -> 404 (empty body): {reason}")
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._forward(body)

        def _forward(self, body: bytes) -> None:
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in _FORWARDED_HEADERS_SKIPPED
            }
            conn = http.client.HTTPConnection(host, int(port), timeout=300)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in _FORWARDED_HEADERS_SKIPPED | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
