"""Serve the registered champion with MLflow's scoring server (``python -m iris_ml.serve``).

A thin launcher around ``mlflow models serve``: it resolves the alias to a
version once, serves exactly that version (so the version it reports is the
one answering), passes the version to the model through MLflow's
``SERVING_MODEL_CONFIG``, binds to 127.0.0.1 unless told otherwise, and runs
one worker per core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

from iris_ml.contract import MODEL_VERSION_KEY
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5001


@dataclass(frozen=True)
class ServeSettings:
    model_name: str = DEFAULT_MODEL_NAME
    alias: str = DEFAULT_ALIAS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 0  # 0: one per core
    timeout: int = 60

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def serve_command(settings: ServeSettings, version: str) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow models serve`` command line and the extra environment it needs."""
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        f"models:/{settings.model_name}/{version}",
        "--env-manager",
        "local",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.worker_count),
        "--timeout",
        str(settings.timeout),
    ]
    # MLflow starts `uvicorn` by name: make it the one beside this interpreter.
    bin_dir = os.path.dirname(sys.executable)
    env = {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "SERVING_MODEL_CONFIG": json.dumps({MODEL_VERSION_KEY: version}),
    }
    return argv, env


def resolve_version(model_name: str, alias: str) -> str | None:
    from mlflow.tracking import MlflowClient

    from iris_ml.registry import resolve_alias

    found = resolve_alias(MlflowClient(), model_name, alias)
    return str(found.version) if found else None


def build_parser() -> argparse.ArgumentParser:
    d = ServeSettings()
    p = argparse.ArgumentParser(prog="python -m iris_ml.serve", description=__doc__)
    p.add_argument("--model-name", default=d.model_name)
    p.add_argument("--alias", default=d.alias)
    p.add_argument(
        "--host",
        default=d.host,
        help="bind address; anything but 127.0.0.1 exposes an unauthenticated server",
    )
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument(
        "--workers", type=int, default=d.workers, help="uvicorn workers (0: one per core)"
    )
    p.add_argument(
        "--timeout", type=int, default=d.timeout, help="seconds per request before a 504"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = ServeSettings(**vars(args))
    version = resolve_version(settings.model_name, settings.alias)
    if version is None:
        print(
            f"No version of '{settings.model_name}' carries the alias '{settings.alias}'. "
            "Train one first: make train",
            file=sys.stderr,
        )
        return 1
    command, extra_env = serve_command(settings, version)
    print(
        f"Serving {settings.model_name} version {version} ('{settings.alias}') on "
        f"http://{settings.host}:{settings.port}/invocations with {settings.worker_count} worker(s)",
        flush=True,
    )
    os.execve(command[0], command, {**os.environ, **extra_env})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
