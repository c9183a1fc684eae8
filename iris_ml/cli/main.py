"""``iris-ml``: one command for every operation; each subcommand is its stage's own ``main``.

This module only wires names to modules (imported when their subcommand runs, so
``iris-ml --help`` costs no MLflow import) and owns no behaviour of its own.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable
from typing import NamedTuple, cast

from iris_ml.commands import EXIT_OK, EXIT_STATUSES, EXIT_USAGE


class Subcommand(NamedTuple):
    module: str  # its main(argv) -> exit status
    summary: str


SUBCOMMANDS: dict[str, Subcommand] = {
    "train": Subcommand(
        "iris_ml.cli.train", "run the MLflow Project: train, evaluate, register, gate, promote"
    ),
    "serve": Subcommand(
        "iris_ml.serving.launcher",
        "serve the champion (following it), a version or a model folder on /invocations",
    ),
    "demo": Subcommand(
        "iris_ml.cli.demo", "train (with --train), then serve the champion and the UI until Ctrl-C"
    ),
    "champion": Subcommand(
        "iris_ml.registry.champion", "show | history | set | rollback the champion alias"
    ),
    "batch": Subcommand(
        "iris_ml.cli.batch", "score a CSV or Parquet input too big for one request, on Spark"
    ),
    "monitor": Subcommand(
        "iris_ml.monitoring.monitor", "drift of the payload log against the training data"
    ),
    "retrain-if-drift": Subcommand(
        "iris_ml.cli.retrain", "monitor, then train a candidate only when drift was found"
    ),
    "tracking-server": Subcommand(
        "iris_ml.tracking.server", "a team's mlflow server, after checking its store and artifacts"
    ),
    "check-tracking": Subcommand(
        "iris_ml.tracking.store", "can $MLFLOW_TRACKING_URI be used? one sentence if not"
    ),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [
        "usage: iris-ml [-h] [--version] COMMAND [OPTIONS]",
        "",
        "Train, register, serve and watch the Iris classifier with MLflow.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {sub.summary}" for name, sub in SUBCOMMANDS.items()),
        "",
        "`iris-ml COMMAND --help` lists a command's options and their defaults.",
        "",
        "exit statuses:",
        *(f"  {code:>3}  {meaning}" for code, meaning in EXIT_STATUSES.items()),
    ]
    return "\n".join(lines)


def unknown(name: str) -> str:
    close = difflib.get_close_matches(name, SUBCOMMANDS, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"iris-ml: '{name}' is not a command.{hint} See iris-ml --help."


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(usage(), file=sys.stderr)
        return EXIT_USAGE
    name, rest = args[0], args[1:]
    if name in ("-h", "--help"):
        print(usage())
        return EXIT_OK
    if name == "--version":
        from importlib.metadata import version

        print(f"iris-ml {version('iris-ml')}")
        return EXIT_OK
    if name not in SUBCOMMANDS:
        print(unknown(name), file=sys.stderr)
        return EXIT_USAGE
    command = cast(
        Callable[[list[str]], int], importlib.import_module(SUBCOMMANDS[name].module).main
    )
    try:
        return command(rest)
    except SystemExit as exc:  # argparse's --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
