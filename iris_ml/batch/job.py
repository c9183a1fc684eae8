"""One batch job: resolve the version once, score every row of the input on Spark, write it,
and record the run in MLflow's ``batch`` experiment (``iris-ml batch``'s core)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iris_ml.batch.files import CSV, PARQUET, BatchError, BatchInput, InputError, find_input
from iris_ml.contract import HeaderError, feature_positions
from iris_ml.settings import DEFAULT_ALIAS, DEFAULT_MODEL_NAME

BATCH_EXPERIMENT = "batch"


@dataclass(frozen=True)
class BatchSettings:
    input: str
    output: str
    format: str = PARQUET  # or CSV: the output's
    master: str | None = None  # None: spark-submit's, else local[*]
    model_name: str = DEFAULT_MODEL_NAME
    alias: str = DEFAULT_ALIAS
    version: str | None = None  # a registered version instead of the alias
    model_uri: str | None = None  # any MLflow model URI or folder instead of the registry
    experiment: str = BATCH_EXPERIMENT
    overwrite: bool = False
    progress: bool = False  # Spark's progress bar (on a terminal)
    split_bytes: int | None = None  # None: spark.split_size's choice for the input's size


@dataclass(frozen=True)
class BatchSummary:
    model: str  # which model and version scored every row
    version: str
    rows: int
    refused: int
    seconds: float
    output: str
    run_id: str

    def line(self) -> str:
        refused = (
            f"; {self.refused:,} refused (their problem column says why)" if self.refused else ""
        )
        return (
            f"Scored {self.rows - self.refused:,} of {self.rows:,} rows with {self.model} in"
            f" {self.seconds:.1f} s{refused}; wrote {self.output} (MLflow run {self.run_id})"
        )


def run_batch(settings: BatchSettings) -> BatchSummary:
    """Score the input into the output; BatchError (one sentence) for anything unusable."""
    started = time.perf_counter()
    batch = find_input(settings.input)  # refused before anything starts
    _check_output(settings)
    label, version, model_dir = resolve_model(settings)  # once: one version for every row
    spark = _start_spark(settings)
    try:
        rows, refused = _score(spark, batch, settings, model_dir, version)
    finally:
        spark.stop()
    seconds = time.perf_counter() - started
    run_id = _record(settings, batch, label, version, rows, refused, seconds)
    return BatchSummary(label, version, rows, refused, seconds, settings.output, run_id)


def _check_output(settings: BatchSettings) -> None:
    if settings.format not in (CSV, PARQUET):
        raise InputError(f"--format is {PARQUET} or {CSV}, not {settings.format!r}")
    out = Path(settings.output)
    if out.exists() and not settings.overwrite:
        raise InputError(
            f"{settings.output} exists: give a new folder, or --overwrite to replace it"
        )


def resolve_model(settings: BatchSettings) -> tuple[str, str, str]:
    """(what to call the model, the version every row reports, its local folder)."""
    if settings.model_uri:
        import mlflow.artifacts

        uri = settings.model_uri
        local = uri if Path(uri).is_dir() else mlflow.artifacts.download_artifacts(uri)
        return uri, uri, str(local)
    from iris_ml.registry.download import download_model
    from iris_ml.registry.versions import aliased_version, registered_version

    name = settings.model_name
    if settings.version is None:
        found = aliased_version(name, settings.alias)
        missing = f"no version of '{name}' carries the alias '{settings.alias}'"
    else:
        found = registered_version(name, settings.version)
        missing = f"'{name}' has no version {settings.version}"
    if found is None:
        raise BatchError(missing)
    version = str(found.version)
    return f"{name} version {version}", version, download_model(name, version, str(found.source))


def _start_spark(settings: BatchSettings) -> Any:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise BatchError(
            "iris-ml batch needs Spark: install the batch extra (pip install -e '.[batch]')"
        ) from None
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        raise BatchError(
            "Spark needs Java (17 or 21) and none was found: install a JDK"
            " (e.g. apt install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    from iris_ml.batch.spark import session

    return session(settings.master, settings.progress)


def _score(
    spark: Any, batch: BatchInput, settings: BatchSettings, model_dir: str, version: str
) -> tuple[int, int]:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from iris_ml.batch.scoring import output_names
    from iris_ml.batch.spark import read_input, scored, ship_model, write_output

    shipped = ship_model(spark, model_dir)
    frame, names = read_input(spark, batch, settings.split_bytes)
    positions = batch.positions or _parquet_positions(names, batch)
    features = [frame.columns[p] for p in positions]
    final = output_names(names)
    as_text = settings.format == CSV
    result = scored(frame, features, shipped, version, as_text).toDF(*final)
    # Counted as the rows are written (Spark's observed metrics): no second pass over the output.
    counts = Observation("counts")
    problem = F.col(f"`{final[-1]}`")  # the problem column comes last
    result = result.observe(
        counts, F.count(F.lit(1)).alias("rows"), F.count(problem).alias("refused")
    )
    write_output(result, settings.output, settings.format, settings.overwrite)
    return int(counts.get["rows"]), int(counts.get["refused"])


def _parquet_positions(names: list[str], batch: BatchInput) -> list[int]:
    try:
        return feature_positions(names)
    except HeaderError as exc:
        raise InputError(f"{batch.files[0].name}: {exc}") from None


def _record(
    settings: BatchSettings, batch: BatchInput, label: str, version: str, rows: int,
    refused: int, seconds: float,
) -> str:  # fmt: skip
    import mlflow

    from iris_ml.tracking.store import experiment_id

    experiment = experiment_id(settings.experiment)
    with mlflow.start_run(experiment_id=experiment, run_name=f"batch {label}") as run:
        mlflow.log_params({
            "model": label, "model_version": version, "input": settings.input,
            "output": settings.output, "format": settings.format, "master": settings.master or "default",
            "input_files": len(batch.files), "input_digest": batch.digest,
        })  # fmt: skip
        mlflow.log_metrics({"rows": rows, "rows_scored": rows - refused,
                            "rows_refused": refused, "seconds": seconds})  # fmt: skip
    return run.info.run_id
