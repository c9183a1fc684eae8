"""Train the Iris classifier, register it, and promote it if it passes the gate.

The MLproject's ``main`` entry point runs this file. Exit status:
0 promoted; 3 registered but rejected by the gate (the alias did not move);
2 bad arguments; 1 any other failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

EXIT_REJECTED = 3
# Seconds a stopped run has to record its status before the process ends regardless.
STOP_GRACE_S = 15.0


def _whole_number(text: str) -> int:
    """MLproject has no int type: accept "200" and "200.0", refuse "200.5"."""
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    from iris_ml.training.settings import TrainSettings

    defaults = {f.name: f.default for f in fields(TrainSettings)}
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--C",
        type=float,
        default=defaults["C"],
        help="inverse regularisation strength of LogisticRegression",
    )
    p.add_argument(
        "--max-iter", type=_whole_number, default=defaults["max_iter"], help="solver iterations"
    )
    p.add_argument(
        "--test-size",
        type=float,
        default=defaults["test_size"],
        help="held-out fraction, stratified (0.1-0.5)",
    )
    p.add_argument(
        "--seed", type=_whole_number, default=defaults["seed"], help="random seed of the split"
    )
    p.add_argument("--model-name", default=defaults["model_name"], help="registered model name")
    p.add_argument(
        "--alias",
        default=defaults["alias"],
        help="alias moved to the new version when the gate passes",
    )
    p.add_argument(
        "--min-accuracy", type=float, default=defaults["min_accuracy"], help="gate: accuracy floor"
    )
    p.add_argument("--min-f1", type=float, default=defaults["min_f1"], help="gate: macro-F1 floor")
    p.add_argument(
        "--max-log-loss",
        type=float,
        default=defaults["max_log_loss"],
        help="gate: log-loss ceiling",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=defaults["tolerance"],
        help="gate: how much worse than the champion accuracy/F1 may be",
    )
    p.add_argument(
        "--data",
        default=defaults["data"],
        help="a CSV of flowers to learn from (the four features in cm and species); "
        "'bundled': Fisher's, as scikit-learn ships them",
    )
    return p


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C or SIGTERM (CI cancels, `kill`, `mlflow run` passing on a Ctrl-C) unwinds
    through `with mlflow.start_run()`, which records the run as FAILED, and exits 128+N."""
    from iris_ml.processes import Stopped, stop_on_signals

    try:
        with stop_on_signals(grace=STOP_GRACE_S):
            return _main(argv)
    except Stopped as stop:
        print(
            f"train.py: stopped by {stop.name}: the MLflow run is marked FAILED, no alias moved.",
            file=sys.stderr,
        )
        return stop.exit_status


def _main(argv: list[str] | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from iris_ml.training.gate import NOT_PROMOTED
    from iris_ml.training.settings import TrainSettings

    args = build_parser().parse_args(argv)
    try:
        settings = TrainSettings(**{k: v for k, v in vars(args).items()})
    except ValueError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 2

    # Two progress bars per model logged are noise in a job's log (set before MLflow loads).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from iris_ml.tracking.store import store_refused
    from iris_ml.training.data import TrainingDataError
    from iris_ml.training.pipeline import train

    if store_refused("train.py"):
        return 1
    commit = _git_commit()
    try:
        result = train(settings, tags={"git_commit": commit} if commit else None)
    except TrainingDataError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"NOTE: {note}")
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    print(
        f"Registered {result.model_name} version {result.version} (run {result.run_id}): {metrics}"
    )
    if result.decision.promote:
        how = "" if result.promoted_by == "alias" else " (as a tag: this registry has no aliases)"
        print(
            f"PROMOTED: '{settings.alias}' -> version {result.version}{how} ({result.comparison})"
        )
        return 0
    kept = f"stays on version {result.champion_before}" if result.champion_before else "is not set"
    print(
        f"{NOT_PROMOTED} {result.decision.summary}. '{settings.alias}' {kept} ({result.comparison})."
    )
    return EXIT_REJECTED


if __name__ == "__main__":
    sys.exit(main())
