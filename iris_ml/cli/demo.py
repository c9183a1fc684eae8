"""Serve the champion and the UI together until Ctrl-C (``iris-ml demo``, ``make demo``).

With ``--train`` it first runs the MLflow Project: a run the gate rejects goes on with
the current champion, any other failed run stops the demo with its error. The ports and the tracking store are checked first. It then
starts ``iris-ml serve`` and the UI (``python -m iris_ml_ui``) as child process groups,
waits until both answer, prints the URLs, a sample ``curl`` and the time to
ready, and stops both cleanly on Ctrl-C, SIGTERM, or when either one exits.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from iris_ml.cli.train import mlflow_run_command, project_dir, run_project
from iris_ml.commands import (
    EXIT_DECIDED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    command_parser,
    port_number,
)
from iris_ml.contract import FEATURE_NAMES, TEXTBOOK_FLOWERS
from iris_ml.processes import (
    NotReady,
    http_ok,
    port_holder,
    port_taken,
    start_group,
    stop_groups,
    wait_until,
)
from iris_ml.serving.auth import ServingKeyError, configured_keys, open_to_the_network
from iris_ml.serving.launcher import DEFAULT_HOST, DEFAULT_PORT
from iris_ml.tracking.store import store_refused

DEFAULT_UI_PORT = 7860
STOPPED = "stopped by Ctrl-C"
SAMPLE_ROW = list(TEXTBOOK_FLOWERS[0][0])  # a setosa: the printed curl answers setosa


def sample_curl(url: str) -> str:
    body = json.dumps({"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [SAMPLE_ROW]}})
    return f"curl -s {url} -H 'Content-Type: application/json' -d '{body}'"


def train_first(command: Sequence[str]) -> str | None:
    """Run the training command, echoing its output; None to go on serving, else why not."""
    status = run_project(command)
    if status == EXIT_INTERRUPTED:  # Ctrl-C while training: run_project said so
        return STOPPED
    if status == EXIT_DECIDED:
        print("The gate kept the current champion: serving it.", flush=True)
    if status in (EXIT_OK, EXIT_DECIDED):
        return None
    return "training failed (its output is above)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = command_parser("demo", __doc__)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT)
    parser.add_argument("--ui-port", type=port_number, default=DEFAULT_UI_PORT)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--log-payloads", metavar="DIR", help="the server's payload log folder")
    parser.add_argument(
        "--train", action="store_true", help="run the MLflow Project first (mlflow run .)"
    )
    parser.add_argument(
        "--train-args", default="", help="more `mlflow run` arguments, e.g. -P C=0.5"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Checked before training: a taken port found after a training run wasted the run.
    problem = door_problem(args.host) or taken_ports_problem(
        args.host, {"scoring server": args.port, "UI": args.ui_port}
    )
    if problem:
        print(f"Not starting the demo: {problem}", file=sys.stderr)
        return EXIT_FAILED
    if args.train:
        if store_refused("Not starting the demo"):
            return EXIT_FAILED
        project = project_dir() or Path.cwd()
        command = mlflow_run_command(project, "local", shlex.split(args.train_args))
        failed = train_first(command)
        if failed == STOPPED:
            return EXIT_INTERRUPTED
        if failed:
            print(f"Not starting the demo: {failed}.", file=sys.stderr)
            return EXIT_FAILED
    return serve_and_show(args)


def door_problem(host: str) -> str | None:
    """Why the server would refuse this host (no key, or a key it cannot use): said first."""
    try:
        keys = configured_keys(None, os.environ)
    except ServingKeyError as exc:
        return str(exc)
    return open_to_the_network(host, keys)


def taken_ports_problem(host: str, ports: dict[str, int]) -> str | None:
    """Why the demo cannot start where asked: a port something else already serves on.

    Checked before starting, because the readiness check would take a foreign server's
    answer (an earlier ``make serve``) for ours.
    """
    taken = [
        f"port {port} ({what}) is in use by {port_holder(port) or 'another process'}"
        for what, port in ports.items()
        if port_taken(host, port)
    ]
    if not taken:
        return None
    return (
        f"on {host}, {'; '.join(taken)}. Stop it, or choose free ports:"
        " make demo PORT=5002 UI_PORT=7861."
    )


def serve_and_show(args: argparse.Namespace) -> int:
    """Start the scoring server, then the UI; print where they are; stop both on Ctrl-C."""
    started = time.monotonic()
    scoring_url = f"http://{args.host}:{args.port}/invocations"
    ui_url = f"http://{args.host}:{args.ui_port}/"
    serve_cmd = [sys.executable, "-m", "iris_ml", "serve", "--host", args.host]
    serve_cmd += ["--port", str(args.port), "--workers", str(args.workers), "--follow"]
    if args.log_payloads:
        serve_cmd += ["--log-payloads", args.log_payloads]
    # The installed name of ui/, so the demo runs from any folder.
    ui_cmd = [sys.executable, "-m", "iris_ml_ui", "--host", args.host, "--port", str(args.ui_port)]
    ui_env = {**os.environ, "SCORING_URI": scoring_url}
    if keys := configured_keys(None, os.environ):
        ui_env["SCORING_KEY"] = keys[0]  # the page asks the server with its key
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    procs: list[subprocess.Popen[bytes]] = []
    deadline = started + args.ready_timeout
    try:
        procs.append(start_group(serve_cmd))
        if not _came_up(
            "The scoring server", scoring_url.replace("/invocations", "/ping"), procs, deadline
        ):
            return 1
        procs.append(start_group(ui_cmd, env=ui_env))
        if not _came_up("The UI", ui_url, procs, deadline):
            return 1
        print(
            _ready_text(time.monotonic() - started, scoring_url, ui_url, args.log_payloads),
            flush=True,
        )
        while not stop.wait(0.3):
            if any(p.poll() is not None for p in procs):
                print("A child process exited; stopping the demo.", file=sys.stderr)
                return 1
        return 0
    finally:
        stop_groups(procs, grace=10.0)
        print("Stopped the scoring server and the UI.", flush=True)


def _ready_text(seconds: float, scoring_url: str, ui_url: str, payload_dir: str | None) -> str:
    lines = [
        f"Ready in {seconds:.1f} s",
        f"  Scoring endpoint: {scoring_url}",
        f"  UI:               {ui_url}",
        f"  Metrics:          {scoring_url.replace('/invocations', '/metrics')}",
    ]
    if payload_dir:
        lines.append(f"  Payload log:      {payload_dir}/ (make monitor reads it)")
    lines += [f"  Try:              {sample_curl(scoring_url)}", "Press Ctrl-C to stop both."]
    return "\n" + "\n".join(lines) + "\n"


def _came_up(what: str, url: str, procs: list[subprocess.Popen[bytes]], deadline: float) -> bool:
    """Wait until ``url`` answers 200; say why not (its output is above) and return False."""
    try:
        wait_until(lambda: http_ok(url), procs, max(0.0, deadline - time.monotonic()), what)
    except NotReady as exc:
        print(f"{exc} (see its output above).", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
