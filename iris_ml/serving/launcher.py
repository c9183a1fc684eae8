"""Serve the registered champion with MLflow's scoring server (``iris-ml serve``).

The launcher resolves the alias (or takes ``--version N``) and serves exactly
that version, so the version the model reports is the one answering (MLflow's
``SERVING_MODEL_CONFIG`` hands it to the model). It binds to 127.0.0.1 unless
told otherwise and runs one uvicorn worker per core.

Without ``--follow`` the alias is resolved once, at start: moving it later
changes nothing until a restart. With ``--follow`` (what ``make serve`` and
``make demo`` use) the server watches the alias and swaps every worker to the
new version once each has loaded and checked it, without failing a request
(``iris_ml/serving/follow/``).

It starts the command ``mlflow models serve --env-manager local`` starts (MLflow's
``scoring_server.get_cmd``: uvicorn with the same host, port, workers and timeout)
without keeping the ``mlflow`` CLI process alive as its parent (about 300 MB less),
and serves MLflow's own scoring app behind the project's serving layer
(``iris_ml/serving/layer.py``): ``GET /metrics``, ``X-Request-ID``, error answers
without stack traces, and opt-in request and payload logs.

The layer answers plain JSON requests itself, with MLflow's answer at C speed
(``iris_ml/serving/fast_path.py``); ``--mlflow-handler-only`` sends every request through
MLflow's handler instead. ``--plain`` serves MLflow's app module without the layer (what ``mlflow models
serve`` answers, less the CLI parent); ``--via-mlflow-cli`` runs ``mlflow models
serve`` itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from iris_ml.commands import EXIT_FAILED, EXIT_USAGE, add_wait_option, command_parser, port_number
from iris_ml.contract import MODEL_VERSION_KEY, PAYLOAD_SOURCE_FILE
from iris_ml.registry import tags
from iris_ml.registry.download import download_model
from iris_ml.serving.auth import (
    KEY_ENV,
    ServingKeyError,
    configured_keys,
    open_to_the_network,
)
from iris_ml.serving.follow.watcher import start_watcher
from iris_ml.serving.handoff import (
    FOLLOW_ENV,
    MULTIPROC_ENV,
    SERVING_ENV,
    WORKER_APP,
    FollowConfig,
    LayerSettings,
    Limits,
    PayloadLogSettings,
    state_dir,
)
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME
from iris_ml.tracking.store import payload_source, source_mismatch, store_refused

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5001
MIB = 1024 * 1024
MLFLOW_APP = "mlflow.pyfunc.scoring_server.app:app"
# How MLflow's command hands its app the model folder and the request timeout.
MLFLOW_MODEL_PATH_ENV = "__pyfunc_model_path__"
MLFLOW_TIMEOUT_ENV = "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"


@dataclass(frozen=True)
class ServeSettings:
    model_name: str = DEFAULT_MODEL_NAME
    alias: str = DEFAULT_ALIAS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 0  # 0: one per core
    timeout: int = Limits.timeout
    max_body_mb: float = Limits.max_body_bytes / MIB
    max_queue: int = Limits.max_queue
    # Idle keep-alive connections are closed after this many seconds. It must outlast the
    # clients' own idle expiry (httpx: 5 s): with uvicorn's default of 5 s both sides time
    # out together, and a request sent as the server closes is answered with a reset.
    keep_alive: int = 65
    # One log line per request costs ~5% of a one-row request's latency; off unless asked.
    access_log: bool = False
    follow: bool = False
    follow_interval: float = 10.0  # seconds between looks at the registry
    log_requests: bool = False  # one JSON line per request on stderr
    payload_dir: str | None = None  # write what is scored here (payload_log.py)
    payload_sample_rate: float = 1.0
    payload_max_mb: int = 256  # per worker; the oldest files go first (payload_log.py's cap)
    fast_path: bool = True  # the layer answers plain requests itself (fast_path.py)
    eager_mlflow: bool = False  # workers load MLflow's app at start, not on first need
    key_file: str | None = None  # None: the keys of $SERVING_KEY, if any

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def limits(self) -> Limits:
        return Limits(int(self.max_body_mb * MIB), self.timeout, self.max_queue)


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
    """The command MLflow's ``scoring_server.get_cmd`` builds for a local model folder, as an argv.

    Built here, not asked of MLflow: importing MLflow costs ~3 s before a ``--model-path``
    server can start (test_serve_launcher holds the two equal).
    """
    argv = [
        _bin("uvicorn"), "--host", settings.host, "--port", str(settings.port),
        "--workers", str(settings.worker_count), MLFLOW_APP,
    ]  # fmt: skip
    env = {
        MLFLOW_MODEL_PATH_ENV: Path(os.path.abspath(local_model)).as_uri(),
        MLFLOW_TIMEOUT_ENV: str(settings.timeout),
    }
    return argv, {k: v for k, v in env.items() if os.environ.get(k) != v}


def mlflow_cli_command(settings: ServeSettings, model_uri: str) -> list[str]:
    return [
        _bin("mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
        "--host", settings.host, "--port", str(settings.port),
        "--workers", str(settings.worker_count), "--timeout", str(settings.timeout),
    ]  # fmt: skip


@dataclass(frozen=True)
class Picked:
    """The registered version to serve."""

    version: str
    source: str
    gate_rejected: str | None = None  # why the gate rejected it (a pinned version only)


def layer_command(
    settings: ServeSettings,
    version: str | None,
    source: str,
    local: str,
    gate_rejected: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """MLflow's command with our factory in place of MLflow's app module (same server, same app)."""
    argv, extra = uvicorn_command(settings, local)
    argv = [arg for arg in argv if arg != MLFLOW_APP] + ["--factory", WORKER_APP]
    state = state_dir()
    (state / "metrics").mkdir()
    payloads = None
    if settings.payload_dir:
        total = settings.payload_max_mb * 1024 * 1024
        payloads = PayloadLogSettings(
            folder=str(Path(settings.payload_dir).resolve()),
            sample_rate=settings.payload_sample_rate,
            max_file_bytes=min(PayloadLogSettings.max_file_bytes, max(total // 4, 1)),
            max_total_bytes=total,
        )
    layer = LayerSettings(
        model_path=local,
        version=version,
        model_name=settings.model_name if version is not None else None,
        gate_rejected=gate_rejected,
        log_requests=settings.log_requests,
        payloads=payloads,
        fast_path=settings.fast_path,
        eager_mlflow=settings.eager_mlflow or not settings.fast_path,
        limits=settings.limits,
        key_file=str(Path(settings.key_file).resolve()) if settings.key_file else None,
    )
    env = {**extra, SERVING_ENV: layer.to_env(), MULTIPROC_ENV: str(state / "metrics")}
    if settings.follow:
        config = FollowConfig(
            state_dir=str(state / "follow"),
            model_name=settings.model_name,
            alias=settings.alias,
            version=str(version),
            source=source,
            local_path=local,
            workers=settings.worker_count,
            interval=settings.follow_interval,
        )
        env[FOLLOW_ENV] = config.to_env()
    return argv, env


def build_parser() -> argparse.ArgumentParser:
    d = ServeSettings()
    p = command_parser("serve", __doc__)
    _add_model_options(p.add_argument_group("which model"), d)
    _add_server_options(p.add_argument_group("server"), d)
    _add_observability_options(p.add_argument_group("logs"), d)
    _add_route_options(p.add_argument_group("route (reference and comparison modes)"))
    add_wait_option(p, "the tracking store, then for a version with the alias")
    return p


def _add_model_options(p: argparse._ArgumentGroup, d: ServeSettings) -> None:
    p.add_argument("--model-name", default=d.model_name)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--alias", default=d.alias, help="serve the version this alias names")
    which.add_argument("--version", help="serve this registered version (pinned: no --follow)")
    p.add_argument(
        "--model-path", help="serve this local MLflow model folder instead of the registry's alias"
    )
    p.add_argument(
        "--follow",
        action="store_true",
        help="watch the alias; when it moves, load and check the new version, then swap it in",
    )
    p.add_argument(
        "--follow-interval",
        type=float,
        default=d.follow_interval,
        help="seconds between looks at the registry with --follow",
    )


def _add_server_options(p: argparse._ArgumentGroup, d: ServeSettings) -> None:
    p.add_argument(
        "--host",
        default=d.host,
        help=f"bind address; anything but loopback needs a key (${KEY_ENV} or --key-file)",
    )
    p.add_argument(
        "--key-file",
        metavar="FILE",
        help=f"the keys callers must send as Bearer tokens, one a line (default: ${KEY_ENV})",
    )
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve without a key on a non-loopback address, on purpose (e.g. behind a gateway)",
    )
    p.add_argument("--port", type=port_number, default=d.port)
    p.add_argument(
        "--workers", type=int, default=d.workers, help="uvicorn workers (0: one per core)"
    )
    p.add_argument(
        "--timeout", type=int, default=d.timeout, help="seconds per request before a 504"
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=d.max_body_mb,
        help="a request body over this many MiB gets a 413, unread",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=d.max_queue,
        help="scoring requests one worker holds at once; past it a 503 with Retry-After",
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


def _add_observability_options(p: argparse._ArgumentGroup, d: ServeSettings) -> None:
    p.add_argument(
        "--log-requests",
        action="store_true",
        help="one JSON line per request on stderr (request id, status, latency, rows, version)",
    )
    p.add_argument(
        "--log-payloads",
        metavar="DIR",
        help="write every scored row (features, answer, version, request id) under DIR",
    )
    p.add_argument(
        "--payload-sample-rate",
        type=float,
        default=d.payload_sample_rate,
        help="share of requests whose rows are written, 0 to 1",
    )
    p.add_argument(
        "--payload-max-mb",
        type=int,
        default=d.payload_max_mb,
        help="payload files each worker keeps, in MB; the oldest go first",
    )


def _add_route_options(p: argparse._ArgumentGroup) -> None:
    p.add_argument(
        "--eager-mlflow",
        action="store_true",
        help="load MLflow's scoring app in each worker at start (default: on the first request"
        " the fast path leaves to it, when the model has a linear scorer)",
    )
    p.add_argument(
        "--mlflow-handler-only",
        action="store_true",
        help="answer every request through MLflow's handler: the slower reference route",
    )
    p.add_argument(
        "--plain",
        action="store_true",
        help="serve MLflow's app without the project's layer (no metrics, ids or logs)",
    )
    p.add_argument(
        "--via-mlflow-cli",
        action="store_true",
        help="run `mlflow models serve` itself (keeps the CLI parent process)",
    )


def _refusal(args: argparse.Namespace) -> str | None:
    if args.follow and (args.version or args.model_path):
        return "--follow watches an alias: it cannot be combined with --version or --model-path"
    bare = _bare_mode(args)
    layered = args.follow or args.log_requests or args.log_payloads or args.mlflow_handler_only
    if bare and layered:
        return (
            f"{bare} serves MLflow's app alone: drop --follow, --log-requests, --log-payloads"
            " and --mlflow-handler-only"
        )
    return _number_refusal(args) or _model_path_refusal(args.model_path) or _key_refusal(args)


def _bare_mode(args: argparse.Namespace) -> str | None:
    """The flag that serves MLflow's app without the layer, if one was given."""
    return "--via-mlflow-cli" if args.via_mlflow_cli else "--plain" if args.plain else None


def _key_refusal(args: argparse.Namespace) -> str | None:
    """Why the keys (or their absence) cannot serve on this address; never the keys."""
    try:
        keys = configured_keys(args.key_file, os.environ)
    except ServingKeyError as exc:
        return str(exc)
    bare = _bare_mode(args)
    if keys and bare:
        return (
            f"{bare} serves MLflow's app alone, which has no key auth:"
            f" unset ${KEY_ENV} and drop --key-file"
        )
    return open_to_the_network(args.host, keys, args.allow_unauthenticated)


def _number_refusal(args: argparse.Namespace) -> str | None:
    # Refused here, by name: past this point uvicorn or the follower would take them as they are.
    if args.workers < 0:
        return "--workers is a number of processes, 0 for one per core"
    if args.timeout < 1 or args.keep_alive < 1:
        return "--timeout and --keep-alive are whole seconds, at least 1"
    if not 1 <= args.max_body_mb * MIB < 2**63 or args.max_queue < 1:
        return "--max-body-mb must be more than 0 and --max-queue at least 1"
    if args.follow and not args.follow_interval > 0:
        return "--follow-interval is a number of seconds, more than 0"
    if not 0 <= args.payload_sample_rate <= 1:
        return "--payload-sample-rate is a share of requests, from 0 to 1"
    if args.payload_max_mb < 1:
        return "--payload-max-mb must be at least 1"
    return None


def _model_path_refusal(model_path: str | None) -> str | None:
    if model_path and not (Path(model_path) / "MLmodel").is_file():
        return f"--model-path {model_path}: no MLflow model there (a folder with an MLmodel file)"
    return None


def _pick_version(settings: ServeSettings, pinned: str | None) -> Picked | str:
    """The version to serve, or the sentence saying why there is none."""
    from iris_ml.registry.versions import aliased_version, registered_version

    if pinned is None:
        found = aliased_version(settings.model_name, settings.alias)
        if found is None:
            return (
                f"No version of '{settings.model_name}' carries the alias '{settings.alias}'. "
                "Train one first: iris-ml train"
            )
    else:
        found = registered_version(settings.model_name, pinned)
        if found is None:
            return f"'{settings.model_name}' has no version {pinned}."
        if rejected := gate_rejection(found.tags or {}):
            print(gate_warning(str(found.version), rejected), file=sys.stderr, flush=True)
            return Picked(str(found.version), str(found.source), rejected)
    return Picked(str(found.version), str(found.source))


def _wait_for_version(settings: ServeSettings, pinned: str | None, wait: float) -> Picked | str:
    """``_pick_version``, waiting up to ``wait`` s for the alias (a stack's first training)."""
    from iris_ml.processes import wait_for

    picked = _pick_version(settings, pinned)
    if not (isinstance(picked, str) and wait and pinned is None):
        return picked

    def missing() -> str | None:
        nonlocal picked
        picked = _pick_version(settings, None)
        return picked if isinstance(picked, str) else None

    what = f"a version of '{settings.model_name}' with the alias '{settings.alias}'"
    wait_for(missing, wait, what, interval=3.0, every=15.0)
    return picked


def claim_payload_folder(settings: ServeSettings) -> str | None:
    """Record which store and model the payload folder's rows are scored for; refuse a folder
    that holds another's (the monitor would compare them with the wrong training data)."""
    folder = Path(str(settings.payload_dir))
    if problem := source_mismatch(folder, settings.model_name):
        return problem
    record = folder / PAYLOAD_SOURCE_FILE
    try:
        if not record.exists():
            folder.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(payload_source(settings.model_name)))
    except OSError:
        pass  # an unwritable folder never stops serving: the payload writer says so, then counts
    return None


def gate_rejection(version_tags: dict[str, str]) -> str | None:
    """Why the gate rejected a version (its tags), or None when it did not."""
    if version_tags.get(tags.GATE_TAG) != tags.GATE_REJECTED:
        return None
    return version_tags.get(tags.GATE_REASON_TAG, "no reason recorded")


def gate_warning(version: str, rejected: str) -> str:
    """The one line said when a pinned version is one the gate rejected: served, but said."""
    return f"warning: version {version} did not pass the gate ({rejected}); serving it as asked"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A progress bar per download is noise in a server's log (the workers inherit this).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = ServeSettings(
        model_name=args.model_name,
        alias=args.alias,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout=args.timeout,
        max_body_mb=args.max_body_mb,
        max_queue=args.max_queue,
        keep_alive=args.keep_alive,
        access_log=args.access_log,
        follow=args.follow,
        follow_interval=args.follow_interval,
        log_requests=args.log_requests,
        payload_dir=args.log_payloads,
        payload_sample_rate=args.payload_sample_rate,
        payload_max_mb=args.payload_max_mb,
        fast_path=not args.mlflow_handler_only,
        eager_mlflow=args.eager_mlflow,
        key_file=args.key_file,
    )
    if refusal := _refusal(args):
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if args.model_path:
        version, source, local, uri = None, "", args.model_path, args.model_path
        rejected = None
        label = args.model_path
    else:
        if store_refused(wait=args.wait):
            return EXIT_FAILED
        if settings.payload_dir and (problem := claim_payload_folder(settings)):
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        picked = _wait_for_version(settings, args.version, args.wait)
        if isinstance(picked, str):
            print(picked, file=sys.stderr)
            return 1
        version, source, rejected = picked.version, picked.source, picked.gate_rejected
        uri = f"models:/{settings.model_name}/{version}"
        local = (
            None if args.via_mlflow_cli else download_model(settings.model_name, version, source)
        )
        how = f"version {args.version}, pinned" if args.version else f"'{settings.alias}'"
        label = f"{settings.model_name} version {version} ({how})"
    if args.via_mlflow_cli:
        command, extra_env = mlflow_cli_command(settings, uri), dict[str, str]()
    elif args.plain:
        command, extra_env = uvicorn_command(settings, str(local))
    else:
        command, extra_env = layer_command(settings, version, source, str(local), rejected)
    extra_env.update(serving_env(version, settings))
    following = f", following '{settings.alias}'" if settings.follow else ""
    # _refusal has read the keys: any key file or non-empty $SERVING_KEY holds at least one.
    keyed = ", key auth on" if args.key_file or os.environ.get(KEY_ENV, "").strip() else ""
    print(
        f"Serving {label} on http://{settings.host}:{settings.port}/invocations "
        f"with {settings.worker_count} worker(s){following}{keyed}",
        flush=True,
    )
    environment = {**os.environ, **extra_env}
    if settings.follow:
        start_watcher(FollowConfig.from_env(environment), environment)
    os.execve(command[0], command, environment)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
