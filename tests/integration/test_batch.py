"""`iris-ml batch` on real Spark: a CSV with tricky cells and bad rows comes back exact.

One registry for the module (`mlflow run`), then the command as a user runs it, in local
mode, writing CSV and Parquet. Every input cell is compared with what Python's csv module
reads from the input; every good row's species with the champion's own answer; every bad
row's problem with the contract's words.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from iris_ml.contract import FEATURE_NAMES, TEXTBOOK_FLOWERS
from tests import procs

NO_JAVA = not shutil.which("java") and not os.environ.get("JAVA_HOME")
pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.skipif(
    NO_JAVA, reason="Spark needs Java: none on PATH and no JAVA_HOME (.ci/run installs it)"
)]  # fmt: skip
ROWS = 3000
HEADER = ["ID", "Petal Width", "comment", "sepal_length", "SEPAL WIDTH", "petal length (cm)"]
FEATURE_AT = {"sepal_length": 3, "sepal_width": 4, "petal_length": 5, "petal_width": 1}
TRICKY = ["=SUM(A1)", "a, quoted", 'say "hi"', "two\nlines", "", "  spaced  ", "-0", "1e3", "00123"]
BAD = {  # a bad cell in petal width, and what the problem column must say
    "abc": "petal_width: expected a number in cm, got 'abc'",
    "": "petal_width: value is missing (null)",
    "-1": "petal_width: must be greater than 0 cm, got -1",
    "1e3": "petal_width: must be at most 10 cm, got 1000",
    "nan": "petal_width: value is NaN",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    uri = f"sqlite:///{root}/mlflow.db"
    trained = procs.mlflow_run(uri, root)
    assert trained.returncode == 0, trained.stderr[-3000:]
    return root, uri


def write_input(path: Path, count: int, tricky: list[str], blank_every: int = 0):
    """A UTF-8 CSV with a BOM and CRLF line ends; rows as Python's csv reads them; bad rows.

    ``blank_every``: a blank line after every so many rows (readers skip it, as csv does).
    """
    rows, expected_problems = [], {}
    for i in range(count):
        values, _ = TEXTBOOK_FLOWERS[i % 3]
        cells = [""] * len(HEADER)
        cells[0], cells[2] = f"{i:05d}", tricky[i % len(tricky)]
        for name, value in zip(FEATURE_NAMES, values, strict=True):
            cells[FEATURE_AT[name]] = f"{value:.2f}"  # "5.10": the text comes back as written
        if i % 97 == 5:
            bad = list(BAD)[i % len(BAD)]
            cells[FEATURE_AT["petal_width"]] = bad
            expected_problems[i + 1] = BAD[bad]
        rows.append(cells)
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(HEADER)
        for i, row in enumerate(rows, 1):
            writer.writerow(row)
            if blank_every and i % blank_every == 0:
                stream.write("\r\n")
    return path, rows, expected_problems


@pytest.fixture(scope="module")
def tricky_input(registry):
    return write_input(registry[0] / "in.csv", ROWS, TRICKY)


@pytest.fixture(scope="module")
def one_line_input(registry):
    """30,000 rows whose quoted cells stay on their line: Spark may split this file."""
    one_line = [cell for cell in TRICKY if "\n" not in cell]
    return write_input(registry[0] / "lines.csv", 30_000, one_line, blank_every=997)


def batch(registry, *args: str) -> subprocess.CompletedProcess:
    root, uri = registry
    return subprocess.run(
        [sys.executable, "-m", "iris_ml", "batch", *args],
        env=procs.base_env(uri), cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def champion_species(registry, rows) -> list[str]:
    import mlflow.pyfunc
    import pandas as pd

    _, uri = registry
    # The environment, not mlflow.set_tracking_uri: that would outlive this test in-process.
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        model = mlflow.pyfunc.load_model("models:/iris-classifier@champion")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    frame = pd.DataFrame(
        [[float(r[FEATURE_AT[n]]) for n in FEATURE_NAMES] for r in rows],
        columns=list(FEATURE_NAMES),
    )
    return [answer["species"] for answer in model.predict(frame)]


def check_output(header, out_rows, tricky_input, registry):
    _, rows, problems = tricky_input
    names = [*HEADER, "input_file", "input_row", "species", "proba_setosa", "proba_versicolor",
             "proba_virginica", "model_version", "problem"]  # fmt: skip
    assert header == names
    assert len(out_rows) == len(rows)
    by_row = {int(r[names.index("input_row")]): r for r in out_rows}
    assert sorted(by_row) == list(range(1, len(rows) + 1))  # none dropped, none twice
    good = [n for n in range(1, len(rows) + 1) if n not in problems]
    expected = dict(zip(good, champion_species(registry, [rows[n - 1] for n in good]), strict=True))
    for number, row in by_row.items():
        assert row[: len(HEADER)] == rows[number - 1], number  # every cell exactly as it came
        if number in problems:
            assert row[names.index("problem")] == problems[number]
            assert row[names.index("species")] in ("", None)
        else:
            assert row[names.index("species")] == expected[number]
            assert row[names.index("model_version")] == "1"
            assert row[names.index("problem")] in ("", None)


def read_parts(out: Path) -> tuple[list[str], list[list[str]]]:
    """The header and every row of a CSV output's parts; each part has the header."""
    header, out_rows = [], []
    for part in sorted(out.glob("part-*.csv")):
        with part.open(encoding="utf-8", newline="") as stream:
            header, *found = list(csv.reader(stream))
            out_rows += found
    return header, out_rows


def test_a_tricky_csv_comes_back_exact_as_csv(registry, tricky_input, tmp_path):
    path, _, problems = tricky_input
    result = batch(registry, str(path), str(tmp_path / "out"), "--format", "csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Scored {ROWS - len(problems):,} of {ROWS:,} rows" in result.stdout
    assert "WARN" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    header, out_rows = read_parts(tmp_path / "out")
    assert len(list((tmp_path / "out").glob("part-*.csv"))) == 1  # a line-crossing cell: read whole
    check_output(header, out_rows, tricky_input, registry)
    # Probabilities in the server's JSON text, which score-client's CSV keeps: orjson's
    # 8.240087212515229e-7, not Python's e-07 nor Java's E-7.
    probabilities = [cell for row in out_rows for cell in row[-5:-2] if cell]
    assert probabilities and all(
        cell == orjson.dumps(float(cell)).decode() for cell in probabilities
    )
    assert any("e-" in cell for cell in probabilities)  # the tiny ones: the case that differs


def test_a_tricky_csv_comes_back_exact_as_parquet_and_the_run_is_recorded(
    registry, tricky_input, tmp_path
):
    path, _, problems = tricky_input
    result = batch(registry, str(path), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    table = pq.read_table(tmp_path / "out")
    columns = table.column_names
    out_rows = [
        [str(v) if isinstance(v, (int, float)) else v for v in row]
        for row in zip(*(table.column(c).to_pylist() for c in columns), strict=True)
    ]
    check_output(columns, out_rows, tricky_input, registry)

    _, uri = registry
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("batch")
    (run, *_) = client.search_runs([experiment.experiment_id], order_by=["start_time DESC"])
    assert run.data.metrics["rows"] == ROWS and run.data.metrics["rows_refused"] == len(problems)
    assert run.data.params["model_version"] == "1"
    digest = hashlib.sha256(b"in.csv\0" + path.read_bytes()).hexdigest()
    assert run.data.params["input_digest"] == digest


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone Spark cluster on loopback, as the platform facts start one: a master, two workers."""
    import pyspark

    root = tmp_path_factory.mktemp("cluster")
    spark_class = str(Path(pyspark.__file__).parent / "bin" / "spark-class")
    env = procs.base_env(SPARK_LOCAL_IP="127.0.0.1", SPARK_NO_DAEMONIZE="1")
    port = procs.free_port()
    master = f"spark://127.0.0.1:{port}"
    started = [procs.Proc(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(procs.free_port())],
        env, root / "master.log",
    )]  # fmt: skip
    try:
        for n in (1, 2):
            started.append(procs.Proc(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--webui-port", str(procs.free_port()),
                 "--work-dir", str(root / f"work{n}"), master],
                env, root / f"worker{n}.log",
            ))  # fmt: skip
        started[0].wait_output("Registering worker", 2, timeout=120)
        yield master, started[1:]
    finally:
        for proc in started:
            proc.stop()


def test_a_standalone_cluster_scores_the_tricky_csv_exact_on_both_workers(
    registry, tricky_input, cluster, tmp_path
):
    path, _, problems = tricky_input
    master, workers = cluster
    result = batch(registry, str(path), str(tmp_path / "out"), "--format", "csv",
                   "--master", master)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Scored {ROWS - len(problems):,} of {ROWS:,} rows" in result.stdout
    check_output(*read_parts(tmp_path / "out"), tricky_input, registry)
    assert all("Asked to launch executor" in w.output() for w in workers)


@pytest.mark.parametrize("where", ["local", "cluster"])
def test_a_big_file_is_split_into_tasks_and_every_row_keeps_its_number(
    registry, one_line_input, where, request, tmp_path
):
    path, rows, problems = one_line_input
    master = ["--master", request.getfixturevalue("cluster")[0]] if where == "cluster" else []
    result = batch(registry, str(path), str(tmp_path / "out"), "--format", "csv",
                   "--split-mb", "0.05", *master)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Scored {len(rows) - len(problems):,} of {len(rows):,} rows" in result.stdout
    splits = -(-path.stat().st_size // round(0.05 * (1 << 20)))  # a task per 50 KiB or so
    assert len(list((tmp_path / "out").glob("part-*.csv"))) == splits > 10
    check_output(*read_parts(tmp_path / "out"), one_line_input, registry)


def test_a_parquet_file_is_split_at_its_row_groups_and_every_row_keeps_its_number(
    registry, one_line_input, tmp_path
):
    import pyarrow as pa

    _, rows, problems = one_line_input
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(HEADER)})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=1000)  # 30 row groups
    result = batch(registry, str(tmp_path / "in.parquet"), str(tmp_path / "out"),
                   "--split-mb", "0.01")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Scored {len(rows) - len(problems):,} of {len(rows):,} rows" in result.stdout
    parts = [pq.read_table(p) for p in sorted((tmp_path / "out").glob("part-*.parquet"))]
    assert sum(1 for part in parts if part.num_rows) > 5  # scored by several tasks
    out = pa.concat_tables(parts)
    out_rows = [list(r) for r in zip(*(c.to_pylist() for c in out.columns), strict=True)]
    check_output(out.column_names, out_rows, one_line_input, registry)


def test_a_line_of_spaces_is_a_row_of_missing_values_not_a_lost_line(registry, tmp_path):
    # Spark's line reader skips it; Python's csv (score-client) reads a record: read whole.
    good = "5.1,3.5,1.4,0.2\n" * 200
    (tmp_path / "in.csv").write_text(",".join(FEATURE_NAMES) + "\n" + good + "   \n" + good)
    result = batch(registry, str(tmp_path / "in.csv"), str(tmp_path / "out"), "--split-mb", "0.001")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pq.read_table(tmp_path / "out").sort_by("input_row").to_pylist()
    assert [r["input_row"] for r in table] == list(range(1, 402))
    assert table[200]["sepal_length"] == "   " and table[200]["species"] is None
    assert table[200]["problem"].startswith("sepal_length: value is missing (null); ")


def test_an_input_it_cannot_read_is_one_line_and_nothing_starts(registry, tmp_path):
    bad = tmp_path / "semi.csv"
    bad.write_text("sepal_length;sepal_width;petal_length;petal_width\n1;2;3;4\n")
    result = batch(registry, str(bad), str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'error: semi.csv: the header is one column, "sepal_length;sepal_width;petal_length;'
        'petal_width": the file looks separated by semicolons; expected a comma-separated'
        " header naming sepal_length, sepal_width, petal_length, petal_width"
    ]
    assert not (tmp_path / "out").exists()


def test_an_existing_output_is_never_overwritten_unasked(registry, tricky_input, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    result = batch(registry, str(tricky_input[0]), str(tmp_path / "out"))
    assert result.returncode == 2 and "exists" in result.stderr
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_float32_parquet_features_score_as_written_not_as_their_nearest_double(registry, tmp_path):
    import pyarrow as pa

    rows = [values for values, _ in TEXTBOOK_FLOWERS]
    typed = pa.table({n: pa.array([r[i] for r in rows], pa.float32())
                      for i, n in enumerate(FEATURE_NAMES)})  # fmt: skip
    pq.write_table(typed, tmp_path / "f32.parquet")
    (tmp_path / "text.csv").write_text(
        ",".join(FEATURE_NAMES) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    answers = {}
    for name in ("f32.parquet", "text.csv"):
        result = batch(registry, str(tmp_path / name), str(tmp_path / f"out-{name}"))
        assert result.returncode == 0, result.stderr[-3000:]
        table = pq.read_table(tmp_path / f"out-{name}").sort_by("input_row")
        answers[name] = table.select(["species", "proba_setosa", "proba_virginica"]).to_pylist()
    assert answers["f32.parquet"] == answers["text.csv"]
    assert [a["species"] for a in answers["text.csv"]] == [s for _, s in TEXTBOOK_FLOWERS]
    assert pq.read_table(tmp_path / "out-f32.parquet").schema.field("sepal_length").type == "float"
