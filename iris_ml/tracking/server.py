"""Start a team's ``mlflow server`` after checking what it needs (``iris-ml tracking-server``).

Checks the backend store's driver and that the database answers, and that the
artifacts destination's package is installed, then replaces itself with
``mlflow server`` (same process, so a supervisor's signals reach MLflow). A
problem is one sentence and exit status 2, instead of a traceback or a server
that answers every training run's upload with a 500. Options not listed below
go to ``mlflow server`` as they are. See docs/team.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from iris_ml.commands import EXIT_USAGE, add_wait_option, command_parser, port_number
from iris_ml.processes import wait_for
from iris_ml.tracking.store import (
    TrackingUnavailable,
    check_artifacts_destination,
    check_backend_store,
    describe,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
EXIT_UNUSABLE = EXIT_USAGE
BACKEND_STORE_ENV = "MLFLOW_BACKEND_STORE_URI"  # what `mlflow server` reads (its --help)


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("tracking-server", __doc__)
    p.add_argument(
        "--backend-store-uri",
        default=os.environ.get(BACKEND_STORE_ENV),
        help="a postgresql+psycopg2:// URI (docs/team.md); default: $MLFLOW_BACKEND_STORE_URI. "
        "Prefer the variable: it holds the password, and argv is visible in ps",
    )
    p.add_argument(
        "--artifacts-destination",
        default=os.environ.get("MLFLOW_ARTIFACTS_DESTINATION"),
        help="where the server stores artifacts it proxies: a folder, s3://..., wasbs://... "
        "(default: $MLFLOW_ARTIFACTS_DESTINATION)",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="bind address; anything but 127.0.0.1 needs auth in front (docs/security.md)",
    )
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT)
    p.add_argument("--check-only", action="store_true", help="check, print, and exit")
    add_wait_option(p, "the database")
    return p


def _backend_refusal(uri: str) -> str | None:
    try:
        check_backend_store(uri)
    except TrackingUnavailable as exc:
        return str(exc)
    return None


def mlflow_server_command(
    args: argparse.Namespace, passthrough: list[str]
) -> tuple[list[str], dict[str, str]]:
    """``mlflow server``'s argv and environment.

    The backend store URI carries the database password, so it travels in MLflow's own
    variable, never in argv, which every user of the machine can read (``ps``).
    """
    command = [str(Path(sys.executable).parent / "mlflow"), "server"]
    command += ["--host", args.host, "--port", str(args.port)]
    if args.artifacts_destination:
        command += ["--artifacts-destination", args.artifacts_destination]
    env = {BACKEND_STORE_ENV: args.backend_store_uri} if args.backend_store_uri else {}
    return command + passthrough, env


def uses_basic_auth(passthrough: list[str]) -> bool:
    """Whether ``mlflow server`` is asked for MLflow's basic-auth app."""
    pairs = zip(passthrough, [*passthrough[1:], ""], strict=False)
    return any(
        (a == "--app-name" and b == "basic-auth") or a == "--app-name=basic-auth" for a, b in pairs
    )


def basic_auth_refusal(environ: Mapping[str, str]) -> str | None:
    """Why MLflow's basic-auth app must not start with this environment, or None.

    Without a secret key every worker dies at start on MLflow's own 30-line traceback;
    without a config of the team's own, MLflow's packaged one would make ``admin`` with
    the password printed in MLflow's sources (``password1234``).
    """
    if not environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        return (
            "basic auth needs MLFLOW_FLASK_SERVER_SECRET_KEY (it signs the CSRF tokens: keep"
            " the same value on every restart); docs/team.md, section 5, sets it"
        )
    if not environ.get("MLFLOW_AUTH_CONFIG_PATH"):
        return (
            "basic auth needs MLFLOW_AUTH_CONFIG_PATH, your own basic_auth.ini: MLflow's"
            " packaged one makes the admin with a password anyone can read in MLflow's"
            " sources; docs/team.md, section 5, writes one"
        )
    return None


def prepare_basic_auth() -> None:
    """Create basic auth's tables and its admin once, before ``mlflow server`` forks workers.

    Each worker does both as it starts (``mlflow.server.auth.create_app``); on a first
    start on PostgreSQL they race, and one worker dies on a UniqueViolation of a table
    being created by another at the same moment. Done here first, their turn is a no-op.
    """
    from mlflow.server.auth.config import read_auth_config
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    config = read_auth_config()
    store = SqlAlchemyStore()
    store.init_db(config.database_uri)
    if not store.has_user(config.admin_username):
        store.create_user(config.admin_username, config.admin_password, is_admin=True)


def main(argv: list[str] | None = None) -> int:
    args, passthrough = build_parser().parse_known_args(argv)
    problem = basic_auth_refusal(os.environ) if uses_basic_auth(passthrough) else None
    if problem is None and (uri := args.backend_store_uri):
        problem = wait_for(
            lambda: _backend_refusal(uri), args.wait, f"the database {describe(uri)}"
        )
    try:
        if problem is None and args.artifacts_destination:
            check_artifacts_destination(args.artifacts_destination)
    except TrackingUnavailable as exc:
        problem = str(exc)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_UNUSABLE
    store = describe(args.backend_store_uri) if args.backend_store_uri else "MLflow's default"
    print(f"Backend store {store}: ok", flush=True)
    if args.check_only:
        return 0
    if uses_basic_auth(passthrough):
        try:
            prepare_basic_auth()
        except Exception as exc:  # its database unreachable, a bad config: one sentence
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"error: cannot prepare basic auth's database: {first}", file=sys.stderr)
            return EXIT_UNUSABLE
    command, env = mlflow_server_command(args, passthrough)
    os.execve(command[0], command, {**os.environ, **env})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
