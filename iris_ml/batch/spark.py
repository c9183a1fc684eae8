"""The Spark side of ``iris-ml batch``: a session with sensible defaults, and the job's plan.

The cells go through Spark as strings and come back as they were read; only answer
columns are added. Scoring is a scalar ``pandas_udf`` over ``scoring.score_cells`` (the
contract's own parsing and messages, the version's own probabilities), to which only the
feature cells and the reader's reason travel; not ``mlflow.pyfunc.spark_udf``, which
hands ``predict`` the signature's types, so a cell that is not a number fails the whole
task instead of being named in its row's ``problem``. The model's folder reaches every
executor as a zip archive (``SparkContext.addArchive``, which each node unpacks):
``addFile`` takes a directory only in local mode.

Splits and row numbers: a big file can be scored by many tasks at once, in splits of
``split_size`` bytes (Parquet at its row groups; a CSV at line ends, when ``files.survey``
found no quoted field running over a line end and no line of blanks; otherwise Spark
must read the file whole, as one task). No two splits share a partition. Within a partition the low 33 bits
of ``monotonically_increasing_id`` count its records (Spark documents the id as the
partition id in the upper 31 bits, the record number in the lower 33), so a file read
whole numbers its rows from them alone. A split file first counts each split's records
(a scan that parses no cell): a row's number is then its place in its split plus the
records of the splits before it in its file (``input_file_block_start``).
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iris_ml.batch.files import CSV, BatchInput, too_many_fields
from iris_ml.batch.scoring import (
    ANSWER_COLUMNS,
    FILE_COLUMN,
    PROBABILITY_COLUMNS,
    ROW_COLUMN,
    BatchModel,
    score_cells,
)
from iris_ml.number_text import number_texts

OVERFLOW = "_overflow"  # why the reader could not take a row whole (None: it could)
_SPLIT, _RECORD = "_split", "_record"  # a row's split (its first byte) and record id
_RECORD_BITS = (1 << 33) - 1
_HUGE = str(1 << 40)  # each file (or split) opens its own partition, never shared
MIN_SPLIT, MAX_SPLIT = 32 << 20, 128 << 20  # 128 MB: Spark's own maxPartitionBytes
# Spark's CSV options, both ways: RFC 4180 quoting, cells kept with their spaces.
_CSV_OPTIONS = {"quote": '"', "escape": '"', "encoding": "UTF-8"}
_CSV_WRITE = {
    "header": "true", "quote": '"', "escape": '"', "lineSep": "\n", "emptyValue": "",
    "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false",
}  # fmt: skip
_QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""
# What the JVM says at every start whatever log4j is told: Spark 4 loads an incubator
# module, and PySpark's gateway announces the shell's log level.
_JVM_NOISE = (
    b"WARNING: Using incubator modules",
    b'Setting default log level to "',
    b"To adjust logging level use sc.setLogLevel(",
)


def session(master: str | None, progress: bool) -> Any:
    """A SparkSession: the workers run this interpreter, Arrow on, the JVM quiet but for errors."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if "SPARK_CONF_DIR" not in os.environ:  # Spark's own place for log4j2.properties
        conf_dir = Path(tempfile.mkdtemp(prefix="iris-ml-spark-conf-"))
        atexit.register(shutil.rmtree, conf_dir, ignore_errors=True)
        (conf_dir / "log4j2.properties").write_text(_QUIET_LOG4J)
        os.environ["SPARK_CONF_DIR"] = str(conf_dir)
    builder = (
        SparkSession.builder.appName("iris-ml batch")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.files.openCostInBytes", _HUGE)
        .config("spark.ui.showConsoleProgress", "true" if progress else "false")
        .config("spark.ui.enabled", "false")  # nothing listens on a port it was not asked to
    )
    # Under spark-submit the gateway is already up, with the master it was given.
    if master or not os.environ.get("PYSPARK_GATEWAY_PORT"):
        builder = builder.master(master or "local[*]")
    with _jvm_stderr_filtered():  # the JVM inherits the filtered stderr for its life
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextlib.contextmanager
def _jvm_stderr_filtered() -> Iterator[None]:
    """Hand processes started inside a pipe for stderr that drops _JVM_NOISE, then relays."""
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    threading.Thread(target=_relay, args=(read_end, saved), daemon=True).start()
    os.dup2(write_end, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the relay writes to ``saved``, the real stderr, from now on
        os.close(write_end)  # the JVM keeps its own copy: the relay runs as long as it does


def _relay(read_end: int, stderr: int) -> None:
    with os.fdopen(read_end, "rb") as lines, os.fdopen(stderr, "wb", buffering=0) as sink:
        for line in lines:
            if not line.startswith(_JVM_NOISE):
                sink.write(line)


def split_size(spark: Any, batch: BatchInput, split_bytes: int | None) -> int:
    """Bytes per split: as asked, else enough splits for the cores the files alone leave idle.

    One task keeps two cores busy (the JVM parses and writes while its Python worker
    scores: measured on 2 cores, a split file scored slower than a whole one), so a job
    wants a task per two cores; a split of under MIN_SPLIT costs more than it saves.
    """
    if split_bytes:
        return split_bytes
    tasks = spark.sparkContext.defaultParallelism // 2
    if len(batch.files) >= tasks:
        return int(_HUGE)
    return min(MAX_SPLIT, max(MIN_SPLIT, -(-batch.size // tasks)))


def read_input(
    spark: Any, batch: BatchInput, split_bytes: int | None = None
) -> tuple[Any, list[str]]:
    """The input as a DataFrame of its cells (CSV: all strings), with file and row added."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    split = split_size(spark, batch, split_bytes)
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(split))
    paths = [str(p.resolve()) for p in batch.files]
    if batch.format == CSV:
        # Positional names: the file's own may repeat, be empty or hold any character. One
        # more column catches a row with more fields than the header (an unquoted comma).
        inner = [f"_c{i}" for i in range(len(batch.header))]
        schema = StructType([StructField(n, StringType()) for n in [*inner, OVERFLOW]])
        multi_line = "false" if batch.splittable else "true"
        frame = (
            spark.read.options(**_CSV_OPTIONS, multiLine=multi_line, header="true")
            .schema(schema).csv(paths)
        )  # fmt: skip
        # A CSV has no nulls: an empty cell, or one a short row lacks, is the empty text.
        frame = frame.select(
            *(F.coalesce(F.col(c), F.lit("")).alias(c) for c in inner),
            F.when(F.col(OVERFLOW).isNotNull(), F.lit(too_many_fields(len(inner)))).alias(OVERFLOW),
        )
        names = list(batch.header)
    else:
        frame = spark.read.parquet(*paths)
        names = frame.columns
        inner = [f"_c{i}" for i in range(len(names))]
        frame = frame.toDF(*inner).withColumn(OVERFLOW, F.lit(None).cast(StringType()))
    frame = frame.withColumn(FILE_COLUMN, F.input_file_name())
    record = F.monotonically_increasing_id()
    if not batch.splittable or all(p.stat().st_size <= split for p in batch.files):
        return frame.withColumn(ROW_COLUMN, record.bitwiseAND(_RECORD_BITS) + 1), names
    frame = frame.withColumn(_SPLIT, F.input_file_block_start()).withColumn(_RECORD, record)
    key = F.concat_ws("#", F.col(FILE_COLUMN), F.col(_SPLIT).cast("string"))
    shifts = F.create_map(*(F.lit(v) for pair in _row_shifts(frame).items() for v in pair))
    row = F.col(_RECORD) + F.element_at(shifts, key)
    return frame.withColumn(ROW_COLUMN, row).drop(_SPLIT, _RECORD), names


def _row_shifts(frame: Any) -> dict[str, int]:
    """For each split ("file#first byte"), what turns its records' ids into row numbers."""
    from pyspark.sql import functions as F

    splits = (
        frame.groupBy(FILE_COLUMN, _SPLIT)
        .agg(F.count(F.lit(1)).alias("records"), F.min(_RECORD).alias("first"))
        .collect()
    )
    shifts: dict[str, int] = {}
    before: dict[str, int] = {}  # records in the splits of each file so far
    for split in sorted(splits, key=lambda s: (s[FILE_COLUMN], s[_SPLIT])):
        earlier = before.get(split[FILE_COLUMN], 0)
        shifts[f"{split[FILE_COLUMN]}#{split[_SPLIT]}"] = earlier - split["first"] + 1
        before[split[FILE_COLUMN]] = earlier + split["records"]
    return shifts


def scored(
    frame: Any, features: list[str], shipped: str, version: str, as_text: bool = False
) -> Any:
    """The frame with the answer columns, scored in the executors by ``score_cells``.

    ``shipped`` is the model's name among the job's files (``ship_model``). ``as_text``
    (CSV output) writes the probabilities in the server's text (``number_text``), which
    score-client's CSV keeps (``8.240087212515229e-7``), not Java's (``8.240087212515229E-7``).
    """
    import pandas as pd
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    number = StringType() if as_text else DoubleType()
    answer_types = {name: number if name in PROBABILITY_COLUMNS else StringType()
                    for name in ANSWER_COLUMNS}  # fmt: skip
    answer_fields = [StructField(f"_a{i}", answer_types[n]) for i, n in enumerate(ANSWER_COLUMNS)]
    strings = {f.name for f in frame.schema.fields if isinstance(f.dataType, StringType)}
    hidden = features  # a CSV's cells: strings already
    if not strings.issuperset(features):  # Parquet's typed columns, read as their text
        hidden = [f"_f{i}" for i in range(len(features))]
        casts = (f"CAST(`{c}` AS STRING) AS `{h}`" for c, h in zip(features, hidden, strict=True))
        frame = frame.selectExpr("*", *casts)
    extra = [OVERFLOW] + ([] if hidden is features else hidden)

    def score(
        first: pd.Series, second: pd.Series, third: pd.Series, fourth: pd.Series, why: pd.Series
    ) -> pd.DataFrame:
        cells = [first.tolist(), second.tolist(), third.tolist(), fourth.tolist()]
        answers = score_cells(cells, _model(shipped, version), why.tolist())
        if as_text:
            names = list(PROBABILITY_COLUMNS)
            texts = number_texts(answers[names].to_numpy()).tolist()
            answers[names] = [[None if t == b"null" else t.decode() for t in r] for r in texts]
        answers.columns = [f"_a{i}" for i in range(len(ANSWER_COLUMNS))]
        return answers

    # A scalar pandas UDF: only the four feature cells and the reader's reason go to Python;
    # the pass-through cells stay in the JVM (mapInPandas would ship every column both ways).
    series = dict.fromkeys(inspect.signature(score).parameters, pd.Series)
    score.__annotations__ = {**series, "return": pd.DataFrame}  # real types, not their text
    udf = F.pandas_udf(score, StructType(answer_fields))  # type: ignore[call-overload]
    answers = udf(*(F.col(f"`{h}`") for h in hidden), F.col(OVERFLOW)).alias("_answers")
    kept = [f.name for f in frame.schema.fields if f.name not in extra]
    return frame.select(*(F.col(f"`{k}`") for k in kept), answers).select(*kept, "_answers.*")


def ship_model(spark: Any, model_dir: str) -> str:
    """Send the model's folder to every node; the name ``_model`` finds it under (SparkFiles)."""
    folder = Path(model_dir)
    staging = Path(tempfile.mkdtemp(prefix="iris-ml-batch-model-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    archive = shutil.make_archive(str(staging / folder.name), "zip", root_dir=folder)
    spark.sparkContext.addArchive(archive)
    return Path(archive).name


def write_output(frame: Any, output: str, kind: str, overwrite: bool) -> None:
    writer = frame.write.mode("overwrite" if overwrite else "errorifexists")
    if kind == CSV:
        writer.options(**_CSV_WRITE).csv(output)
    else:
        writer.parquet(output)


_LOADED: dict[tuple[str, str], BatchModel] = {}


def _model(shipped: str, version: str) -> BatchModel:
    """The version's scorer in this Python worker, loaded once from the unpacked archive."""
    key = (shipped, version)
    if key not in _LOADED:
        from pyspark import SparkFiles

        from iris_ml.batch.model import batch_model

        _LOADED[key] = batch_model(Path(SparkFiles.get(shipped)), version)
    return _LOADED[key]
