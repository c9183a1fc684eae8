"""Run the MLflow Project: train, evaluate, register, gate, promote (``iris-ml train``).

The same as ``mlflow run . --env-manager local`` in the checkout, after a check that the
tracking store answers (one sentence instead of minutes of MLflow's retries).
``mlflow run`` exits 1 for every failed run, so the gate's verdict is read from
train.py's own NOT PROMOTED line: exit status 3 when the gate kept the champion.
``--env-manager uv`` builds a fresh venv from conda.yaml held to requirements.lock.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from iris_ml.commands import (
    EXIT_DECIDED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_wait_option,
    command_parser,
)
from iris_ml.processes import Stopped, stop_on_signals
from iris_ml.training.gate import NOT_PROMOTED

DEFAULT_EXPERIMENT = "iris-classifier"
LOCK_FILE = "requirements.lock"
# Seconds a stopped `mlflow run` gets to record the run (train.py itself takes at most 15).
STOP_WAIT_S = 25.0


def project_dir() -> Path | None:
    """The folder holding the MLproject: this one, or the checkout iris_ml was installed from."""
    for folder in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (folder / "MLproject").is_file():
            return folder
    return None


def mlflow_run_command(project: Path, env_manager: str, extra: Sequence[str] = ()) -> list[str]:
    """``mlflow run PROJECT --env-manager M`` and more of its arguments (``-P NAME=VALUE``)."""
    mlflow = str(Path(sys.executable).parent / "mlflow")  # the venv's, whatever PATH says
    return [mlflow, "run", str(project), "--env-manager", env_manager, *extra]


def run_project(command: Sequence[str], env: dict[str, str] | None = None) -> int:
    """Run ``mlflow run``, echoing its output; 0 promoted, 3 kept by the gate, 1 failed.

    Ctrl-C reaches ``mlflow run`` and train.py too (one foreground group): this waits for
    them to record the run as stopped, says so in one line, and returns 130.
    """
    rejected = False
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
    ) as proc:
        try:
            with stop_on_signals(grace=STOP_WAIT_S + 5):
                for line in proc.stdout or ():  # always a pipe: stdout=PIPE
                    print(line, end="", flush=True)
                    rejected = rejected or line.startswith(NOT_PROMOTED)
        except Stopped:
            # Keep echoing what the run says while it records itself as stopped.
            echo = threading.Thread(target=_echo, args=(proc,), daemon=True)
            echo.start()
            _wait_or_kill(proc)
            echo.join(timeout=1)
            print("Training stopped: the run is marked FAILED, no alias moved.", file=sys.stderr)
            return EXIT_INTERRUPTED
    if proc.returncode == 0:
        return EXIT_OK
    return EXIT_DECIDED if rejected else EXIT_FAILED


def _echo(proc: subprocess.Popen[str]) -> None:
    for line in proc.stdout or ():
        print(line, end="", flush=True)


def _wait_or_kill(proc: subprocess.Popen[str]) -> None:
    try:
        proc.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def training_env(project: Path, experiment: str) -> dict[str, str]:
    # `mlflow run` starts the entry point as `python train.py`: this venv's python first.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MLFLOW_EXPERIMENT_NAME": experiment}
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    if (project / LOCK_FILE).is_file():
        env.setdefault("UV_CONSTRAINT", str(project / LOCK_FILE))  # for --env-manager uv
    return env


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("train", __doc__)
    p.add_argument(
        "-P", dest="params", action="append", default=[], metavar="NAME=VALUE",
        help="an MLproject parameter, e.g. -P C=0.5 -P min_accuracy=0.95 (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--env-manager", choices=("local", "uv"), default="local",
        help="local: this venv; uv: a fresh venv from conda.yaml, held to the lock",
    )  # fmt: skip
    p.add_argument(
        "--experiment-name", default=os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT),
        help="the MLflow experiment of the run ($MLFLOW_EXPERIMENT_NAME)",
    )  # fmt: skip
    p.add_argument(
        "--if-no-champion", action="store_true",
        help="train only when the registry has no champion yet (a stack's first model); "
        "exit 0 without training otherwise",
    )  # fmt: skip
    add_wait_option(p, "the tracking store")
    return p


def champion_already(params: list[str]) -> str | None:
    """Which version is champion already (of the -P model_name and alias given), or None."""
    from iris_ml.registry.versions import aliased_version
    from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME

    given = dict(param.split("=", 1) for param in params)
    model_name = given.get("model_name", DEFAULT_MODEL_NAME)
    alias = given.get("alias", DEFAULT_ALIAS)
    found = aliased_version(model_name, alias)
    if found is None:
        return None
    return (
        f"{model_name}@{alias} is version {found.version} already: "
        "nothing to train (--if-no-champion). A new candidate: iris-ml train."
    )


def _from_here(params: list[str]) -> list[str]:
    """-P data=FILE relative to where the user stands (``mlflow run`` runs in the project)."""
    named = [param.split("=", 1) for param in params]
    return [
        f"data={Path(value).resolve()}"
        if name == "data" and Path(value).exists()
        else f"{name}={value}"
        for name, value in named
    ]


def main(argv: list[str] | None = None) -> int:
    from iris_ml.tracking.store import store_refused

    args = build_parser().parse_args(argv)
    if bad := [p for p in args.params if "=" not in p]:
        print(f"error: -P takes NAME=VALUE, got {bad[0]!r}", file=sys.stderr)
        return EXIT_USAGE
    project = project_dir()
    if project is None:
        print(
            "error: no MLproject here: run iris-ml train in the iris-ml checkout", file=sys.stderr
        )
        return EXIT_USAGE
    if store_refused(wait=args.wait):
        return EXIT_USAGE
    if args.if_no_champion and (line := champion_already(args.params)):
        print(line, flush=True)
        return EXIT_OK
    params = [arg for param in _from_here(args.params) for arg in ("-P", param)]
    command = mlflow_run_command(project, args.env_manager, params)
    return run_project(command, training_env(project, args.experiment_name))
