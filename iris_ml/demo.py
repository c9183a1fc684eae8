"""Run the champion's scoring server and the UI together until Ctrl-C (``make demo``).

With ``--train`` it first runs the MLflow Project: a run the gate rejects goes on with
the current champion, any other failed run stops the demo with its error. It then starts ``python -m iris_ml.serve`` and ``python -m ui`` as child process groups,
waits until both answer, prints the URLs, a sample ``curl`` and the time to
ready, and stops both cleanly on Ctrl-C, SIGTERM, or when either one exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from iris_ml.contract import FEATURE_NAMES, TEXTBOOK_FLOWERS
from iris_ml.gate import NOT_PROMOTED
from iris_ml.serve import DEFAULT_HOST, DEFAULT_PORT

DEFAULT_UI_PORT = 7860
SAMPLE_ROW = list(TEXTBOOK_FLOWERS[0][0])  # a setosa: the printed curl answers setosa


def sample_curl(url: str) -> str:
    body = json.dumps({"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [SAMPLE_ROW]}})
    return f"curl -s {url} -H 'Content-Type: application/json' -d '{body}'"


def train_first(command: Sequence[str]) -> str | None:
    """Run the training command, echoing its output; None to go on serving, else why not.

    ``mlflow run`` exits 1 for every failed run, so the gate's verdict is read from the
    entry point's own line (train.py prints NOT_PROMOTED and exits 3).
    """
    rejected = False
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            rejected = rejected or line.startswith(NOT_PROMOTED)
    if proc.returncode == 0:
        return None
    if rejected:
        print("The gate kept the current champion: serving it.", flush=True)
        return None
    return f"training failed (exit status {proc.returncode}; its output is above)"


def wait_until_up(url: str, procs: Sequence[subprocess.Popen], deadline: float) -> bool:
    """Poll ``url`` until it answers 200, a child exits, or the deadline passes."""
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def stop(procs: Sequence[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM each child's process group, then SIGKILL whatever outlives the grace period."""
    for p in procs:
        if p.poll() is None:
            _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            p.wait()


def _bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)  # the venv's, without PATH


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iris_ml.demo", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--ui-port", type=int, default=DEFAULT_UI_PORT)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--log-payloads", metavar="DIR", help="the server's payload log folder")
    parser.add_argument(
        "--train", action="store_true", help="run the MLflow Project first (mlflow run .)"
    )
    parser.add_argument(
        "--train-args", default="", help="more `mlflow run` arguments, e.g. -P C=0.5"
    )
    args = parser.parse_args(argv)
    if args.train:
        train = [
            _bin("mlflow"),
            "run",
            ".",
            "--env-manager",
            "local",
            *shlex.split(args.train_args),
        ]
        try:
            failed = train_first(train)
        except KeyboardInterrupt:  # Ctrl-C while training: the run stops with it
            print("\nStopped before serving.", file=sys.stderr)
            return 130
        if failed:
            print(f"Not starting the demo: {failed}.", file=sys.stderr)
            return 1

    started = time.monotonic()
    scoring_url = f"http://{args.host}:{args.port}/invocations"
    ui_url = f"http://{args.host}:{args.ui_port}/"
    serve_cmd = [sys.executable, "-m", "iris_ml.serve", "--host", args.host]
    serve_cmd += ["--port", str(args.port), "--workers", str(args.workers), "--follow"]
    if args.log_payloads:
        serve_cmd += ["--log-payloads", args.log_payloads]
    ui_cmd = [sys.executable, "-m", "ui", "--host", args.host, "--port", str(args.ui_port)]
    ui_env = {**os.environ, "SCORING_URI": scoring_url}

    procs: list[subprocess.Popen] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        procs.append(subprocess.Popen(serve_cmd, start_new_session=True))
        if not wait_until_up(
            scoring_url.replace("/invocations", "/ping"), procs, started + args.ready_timeout
        ):
            print("The scoring server did not come up (see its output above).", file=sys.stderr)
            return 1
        procs.append(subprocess.Popen(ui_cmd, env=ui_env, start_new_session=True))
        if not wait_until_up(ui_url, procs, started + args.ready_timeout):
            print("The UI did not come up (see its output above).", file=sys.stderr)
            return 1
        lines = [
            f"Ready in {time.monotonic() - started:.1f} s",
            f"  Scoring endpoint: {scoring_url}",
            f"  UI:               {ui_url}",
            f"  Metrics:          {scoring_url.replace('/invocations', '/metrics')}",
        ]
        if args.log_payloads:
            lines.append(f"  Payload log:      {args.log_payloads}/ (make monitor reads it)")
        lines += [f"  Try:              {sample_curl(scoring_url)}", "Press Ctrl-C to stop both."]
        print("\n" + "\n".join(lines) + "\n", flush=True)
        while not stopping:
            if any(p.poll() is not None for p in procs):
                print("A child process exited; stopping the demo.", file=sys.stderr)
                return 1
            time.sleep(0.3)
        return 0
    finally:
        stop(procs)
        print("Stopped the scoring server and the UI.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
