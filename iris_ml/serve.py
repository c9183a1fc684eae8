"""Serve the registered champion with MLflow's scoring server (``python -m iris_ml.serve``).

The launcher resolves the alias to a version once and serves exactly that
version, so the version the model reports is the one answering (MLflow's
``SERVING_MODEL_CONFIG`` hands it to the model). It binds to 127.0.0.1 unless
told otherwise and runs one uvicorn worker per core.

By default it starts the same command ``mlflow models serve --env-manager local``
starts (MLflow's ``scoring_server.get_cmd``: uvicorn running
``mlflow.pyfunc.scoring_server.app``) without keeping the ``mlflow`` CLI process
alive as its parent: about 300 MB less and one MLflow import fewer at start.
``--via-mlflow-cli`` runs ``mlflow models serve`` itself instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
    # Idle keep-alive connections are closed after this many seconds. It must outlast the
    # clients' own idle expiry (httpx: 5 s): with uvicorn's default of 5 s both sides time
    # out together, and a request sent as the server closes is answered with a reset.
    keep_alive: int = 65
    # One log line per request costs ~5% of a one-row request's latency; off unless asked.
    access_log: bool = False

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def _bin(name: str) -> str:
    # The scripts beside this interpreter, whatever PATH says (the venv need not be activated).
    return str(Path(sys.executable).parent / name)


def serving_env(version: str | None, settings: ServeSettings) -> dict[str, str]:
    bin_dir = os.path.dirname(sys.executable)
    env = {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        # uvicorn reads every CLI option from UVICORN_*; `mlflow models serve` has no flags
        # for these, so the environment reaches uvicorn on both paths.
        "UVICORN_TIMEOUT_KEEP_ALIVE": str(settings.keep_alive),
        "UVICORN_ACCESS_LOG": "true" if settings.access_log else "false",
    }
    if version is not None:
        env["SERVING_MODEL_CONFIG"] = json.dumps({MODEL_VERSION_KEY: version})
    return env


def uvicorn_command(settings: ServeSettings, local_model: str) -> tuple[list[str], dict[str, str]]:
    """MLflow's own scoring-server command for a local model folder, as an argv."""
    from mlflow.pyfunc import scoring_server

    command, command_env = scoring_server.get_cmd(
        local_model,
        port=settings.port,
        host=settings.host,
        timeout=settings.timeout,
        nworkers=settings.worker_count,
    )
    argv = shlex.split(command)
    argv[0] = _bin(argv[0])  # "uvicorn"
    extra = {k: v for k, v in command_env.items() if os.environ.get(k) != v}
    return argv, extra


def mlflow_cli_command(settings: ServeSettings, model_uri: str) -> list[str]:
    return [
        _bin("mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
        "--host", settings.host, "--port", str(settings.port),
        "--workers", str(settings.worker_count), "--timeout", str(settings.timeout),
    ]  # fmt: skip


def resolve_version(model_name: str, alias: str) -> tuple[str, str] | None:
    """(version, source) of the version the alias points at, or None."""
    from mlflow.tracking import MlflowClient

    from iris_ml.registry import resolve_alias

    found = resolve_alias(MlflowClient(), model_name, alias)
    return (str(found.version), str(found.source)) if found else None


def download_model(model_name: str, version: str, source: str) -> str:
    """The version's files in a local cache (registered versions are immutable)."""
    import mlflow
    import mlflow.artifacts

    key = hashlib.sha256(
        "|".join([mlflow.get_tracking_uri(), model_name, version, source]).encode()
    ).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "iris-ml-models" / f"{model_name}-{version}-{key}"
    if (target / "MLmodel").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{model_name}/{version}", dst_path=str(staging)
    )
    try:
        staging.rename(target)  # atomic: a concurrent start either wins or reuses
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def build_parser() -> argparse.ArgumentParser:
    d = ServeSettings()
    p = argparse.ArgumentParser(
        prog="python -m iris_ml.serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    p.add_argument(
        "--keep-alive",
        type=int,
        default=d.keep_alive,
        help="seconds an idle connection stays open; keep it above your clients' idle expiry",
    )
    p.add_argument(
        "--access-log", action="store_true", help="log one line per request (uvicorn's access log)"
    )
    p.add_argument(
        "--model-path", help="serve this local MLflow model folder instead of the registry's alias"
    )
    p.add_argument(
        "--via-mlflow-cli",
        action="store_true",
        help="run `mlflow models serve` itself (keeps the CLI parent process)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = ServeSettings(
        model_name=args.model_name,
        alias=args.alias,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout=args.timeout,
        keep_alive=args.keep_alive,
        access_log=args.access_log,
    )
    if args.model_path:
        version, local, uri = None, args.model_path, args.model_path
        label = args.model_path
    else:
        resolved = resolve_version(settings.model_name, settings.alias)
        if resolved is None:
            print(
                f"No version of '{settings.model_name}' carries the alias '{settings.alias}'. Train one first: make train",
                file=sys.stderr,
            )
            return 1
        version, source = resolved
        uri = f"models:/{settings.model_name}/{version}"
        local = (
            None if args.via_mlflow_cli else download_model(settings.model_name, version, source)
        )
        label = f"{settings.model_name} version {version} ('{settings.alias}')"
    if args.via_mlflow_cli:
        command, extra_env = (
            mlflow_cli_command(settings, uri),
            serving_env(version, settings),
        )
    else:
        command, extra_env = uvicorn_command(settings, local)
        extra_env.update(serving_env(version, settings))
    print(
        f"Serving {label} on http://{settings.host}:{settings.port}/invocations "
        f"with {settings.worker_count} worker(s)",
        flush=True,
    )
    os.execve(command[0], command, {**os.environ, **extra_env})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
