"""Compare what the served model was asked with its training data (``iris-ml monitor``).

Reads a window of the payload log (``serve --log-payloads DIR``), compares each feature
and the species mix with the reference profile that training logged inside the model
(``iris_ml/monitoring/drift.py``), and logs an MLflow run in the ``monitoring`` experiment: the
metrics, one plot per feature (served over training), the window's size and time span,
linked to the model version, which gets its latest drift status as the tag
``drift_status``.

Exit status: 0 no drift (or a window too small to judge: a warning says so),
3 drift over a threshold, 2 bad usage, 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from iris_ml.commands import EXIT_DECIDED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, command_parser
from iris_ml.contract import FEATURE_NAMES, PAYLOAD_FILE_PATTERN, SPECIES_KEY
from iris_ml.monitoring.drift import REFERENCE_PROFILE_FILE, DriftReport, DriftThresholds
from iris_ml.registry.tags import DRIFT_TAG
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME
from iris_ml.tracking.store import experiment_id, source_mismatch, store_refused

EXPERIMENT = "monitoring"
EXIT_DRIFT = EXIT_DECIDED


class UsageError(Exception):
    """The command cannot run as asked (exit 2)."""


@dataclass(frozen=True)
class Window:
    rows: list[list[float]]
    species: list[str]
    first: str | None
    last: str | None
    versions: dict[str, int]
    skipped: int  # lines that were not rows of the payload log


def read_window(folder: Path, since: datetime, max_rows: int) -> Window:
    """The newest ``max_rows`` payload rows written at or after ``since``."""
    if not folder.is_dir():
        raise UsageError(f"no payload log folder at {folder} (serve with --log-payloads)")
    start = since.isoformat(timespec="milliseconds")
    found: list[dict[str, Any]] = []
    skipped = 0
    for record in _records(folder):
        if record is None:
            skipped += 1
        elif record["time"] >= start:  # ISO times in UTC compare as text
            found.append(record)
    found.sort(key=lambda r: r["time"])
    found = found[-max_rows:]
    versions: dict[str, int] = {}
    for r in found:
        versions[str(r.get("model_version"))] = versions.get(str(r.get("model_version")), 0) + 1
    return Window(
        rows=[[float(r[n]) for n in FEATURE_NAMES] for r in found],
        species=[str(r[SPECIES_KEY]) for r in found],
        first=found[0]["time"] if found else None,
        last=found[-1]["time"] if found else None,
        versions=versions,
        skipped=skipped,
    )


def _records(folder: Path) -> Iterator[dict[str, Any] | None]:
    for path in sorted(folder.glob(PAYLOAD_FILE_PATTERN)):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                    ok = isinstance(record, dict) and isinstance(record.get("time"), str)
                    ok = ok and all(isinstance(record.get(n), (int, float)) for n in FEATURE_NAMES)
                except ValueError:  # a line cut short by a full disk or a killed worker
                    ok = False
                yield record if ok else None


def load_profile(model_name: str, version: str) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    from iris_ml.registry.download import download_model

    source = MlflowClient().get_model_version(model_name, version).source
    local = Path(download_model(model_name, version, str(source)))
    path = local / "artifacts" / REFERENCE_PROFILE_FILE
    if not path.is_file():
        raise UsageError(
            f"{model_name} version {version} carries no reference profile "
            "(trained before monitoring existed): train a new version"
        )
    return json.loads(path.read_text())


def plot_feature(name: str, profile: dict[str, Any], served: list[float]) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.2))
    reference = profile["features"][name]["sample"]
    low = min(min(reference), min(served))
    high = max(max(reference), max(served))
    bins = [low + (high - low) * i / 30 for i in range(31)]
    axes.hist(reference, bins=bins, density=True, alpha=0.55, label="training")
    axes.hist(served, bins=bins, density=True, alpha=0.55, label="served")
    axes.set_xlabel(f"{name} (cm)")
    axes.set_ylabel("density")
    axes.legend()
    figure.tight_layout()
    return figure


def log_run(
    model_name: str,
    version: str,
    window: Window,
    report: DriftReport,
    thresholds: DriftThresholds,
    profile: dict[str, Any],
    status: str,
) -> str:
    import matplotlib.pyplot as plt
    import mlflow
    from mlflow.tracking import MlflowClient

    experiment = experiment_id(EXPERIMENT)
    with mlflow.start_run(
        experiment_id=experiment, run_name=f"drift {model_name} v{version}"
    ) as run:
        mlflow.set_tags(
            {"model_name": model_name, "model_version": version, "drift_status": status}
        )
        mlflow.log_params(
            {
                "window_first": window.first,
                "window_last": window.last,
                "window_rows": len(window.rows),
                "window_versions": json.dumps(window.versions),
                **thresholds.as_params(),
            }
        )
        mlflow.log_metrics(report.metrics())
        if not report.too_small:
            for column, name in enumerate(FEATURE_NAMES):
                figure = plot_feature(name, profile, [r[column] for r in window.rows])
                mlflow.log_figure(figure, f"drift_{name}.png")
                plt.close(figure)
        run_id = run.info.run_id
    summary = {
        "status": status,
        "run_id": run_id,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(window.rows),
        "drifted": report.drifted_features
        + (["prediction_mix"] if report.prediction_drifted(thresholds) else []),
    }
    MlflowClient().set_model_version_tag(model_name, version, DRIFT_TAG, json.dumps(summary))
    return run_id


def build_parser() -> argparse.ArgumentParser:
    d = DriftThresholds()
    p = command_parser("monitor", __doc__)
    p.add_argument("--payloads", required=True, help="the folder serve --log-payloads writes")
    p.add_argument("--hours", type=float, default=24.0, help="the window: rows of the last N hours")
    p.add_argument("--max-rows", type=int, default=100_000, help="the newest N rows at most")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--alias", default=DEFAULT_ALIAS, help="compare with this alias's version")
    which.add_argument("--version", help="compare with this registered version")
    for f in fields(DriftThresholds):
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            type=type(getattr(d, f.name)),
            default=getattr(d, f.name),
        )
    return p


def _version(model_name: str, alias: str, pinned: str | None) -> str:
    if pinned:
        return pinned
    from iris_ml.registry.versions import aliased_version

    found = aliased_version(model_name, alias)
    if found is None:
        raise UsageError(f"no version of '{model_name}' carries the alias '{alias}'")
    return str(found.version)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from iris_ml.monitoring.drift import compare

    thresholds = DriftThresholds(**{f.name: getattr(args, f.name) for f in fields(DriftThresholds)})
    since = datetime.now(UTC) - timedelta(hours=args.hours)
    window = read_window(Path(args.payloads), since, args.max_rows)
    if store_refused():
        return EXIT_FAILED
    if mismatch := source_mismatch(Path(args.payloads), args.model_name):
        raise UsageError(mismatch)
    version = _version(args.model_name, args.alias, args.version)
    profile = load_profile(args.model_name, version)
    served = np.asarray(window.rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    report = compare(profile, served, window.species, thresholds)
    status = report.status(thresholds)
    run_id = log_run(args.model_name, version, window, report, thresholds, profile, status)
    print(describe(report, thresholds, window, version, run_id))
    if window.skipped:
        print(f"warning: {window.skipped} line(s) of the payload log were not rows; skipped")
    return EXIT_DRIFT if status == "drift" else EXIT_OK


def describe(
    report: DriftReport, thresholds: DriftThresholds, window: Window, version: str, run_id: str
) -> str:
    if report.too_small:
        return (
            f"warning: {report.rows} row(s) in the window, fewer than {thresholds.min_rows}: "
            f"too few to judge drift (run {run_id})"
        )
    lines = [f"{report.rows} rows from {window.first} to {window.last} against version {version}:"]
    for f in report.features:
        mark = "DRIFT" if f.drifted else "ok"
        lines.append(f"  {f.feature:<13} PSI {f.psi:6.3f}  KS p {f.ks_pvalue:8.2g}  {mark}")
    mark = "DRIFT" if report.prediction_drifted(thresholds) else "ok"
    lines.append(f"  {'species mix':<13} PSI {report.prediction_psi:6.3f}  {mark}")
    verdict = "drift" if report.status(thresholds) == "drift" else "no drift"
    lines.append(f"{verdict} (MLflow run {run_id} in experiment '{EXPERIMENT}')")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    if args.hours <= 0 or args.max_rows < 1:
        print("error: --hours and --max-rows must be positive", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # one sentence, no traceback: the exit status says the rest
        print(f"error: monitoring failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
