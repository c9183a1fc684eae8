"""Batch benchmark (`make bench-batch`): one big CSV scored two ways in the same run.

* spark-csv / spark-parquet   ``iris-ml batch IN OUT`` in Spark's local mode (``local[*]``),
                              CSV parts or Parquet out
* score-client                ``score-client predict --csv`` against ``iris-ml serve``
                              (one worker a core), the path there was before batch

Each prints its wall time (launch to exit, the JVM's start included), rows/s, and peak
memory: the whole process tree (the driver, the JVM and its Python workers, or the client
and the server) and the driver alone: the file is never collected to the driver, so its
peak stays flat as the rows grow. Every output is counted: all rows back, none twice.

Target (issue 31): Spark local at least 3x the score-client path on 1M rows on 2 cores.
``--rows 10000000`` for the 10M-row run.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.bench import BIN, COLUMNS, JSON, REPO, Server, env, train_champion
from benchmarks.soak import group_rss_mb, status_mb
from iris_ml.processes import free_port, start_group, stop_groups

LOW, HIGH = [4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5]
TARGET = 3.0


@dataclass(frozen=True)
class Figures:
    seconds: float
    rows: int
    tree_peak_mb: float
    driver_peak_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def write_input(path: Path, rows: int) -> None:
    """An id column (zero-padded text, passed through) and four in-range features."""
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", *COLUMNS])
        for start in range(0, rows, 100_000):
            block = rng.uniform(LOW, HIGH, size=(min(100_000, rows - start), 4)).round(2)
            writer.writerows([f"{start + i:08d}", *r] for i, r in enumerate(block.tolist()))


def timed_tree(
    cmd: list[str], environment: dict[str, str], log: Path
) -> tuple[float, float, float]:
    """Run ``cmd`` in its own group: wall seconds, the group's and the leader's peak RSS (MB)."""
    started = time.perf_counter()
    tree_peak = driver_peak = 0.0
    with log.open("wb") as output:
        proc = start_group(cmd, env=environment, output=output)
        try:
            while proc.poll() is None:
                tree_peak = max(tree_peak, group_rss_mb(proc.pid))
                driver_peak = max(driver_peak, status_mb(proc.pid, "VmHWM"))
                time.sleep(0.2)
        finally:
            stop_groups([proc], grace=10)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} exited {proc.returncode}: see {log}")
    return seconds, tree_peak, driver_peak


def spark_run(work: Path, uri: str, source: Path, kind: str) -> Figures:
    out = work / f"out-{kind}"
    cmd = [sys.executable, "-m", "iris_ml", "batch", str(source), str(out), "--format", kind]
    seconds, tree, driver = timed_tree(cmd, env(uri), work / f"spark-{kind}.log")
    return Figures(seconds, _rows_out(out, kind), tree, driver)


def _rows_out(out: Path, kind: str) -> int:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return sum(pq.read_metadata(p).num_rows for p in out.glob("part-*.parquet"))
    return sum(sum(1 for _ in csv.reader(p.open(newline=""))) - 1 for p in out.glob("part-*.csv"))


def client_run(work: Path, uri: str, source: Path) -> Figures:
    """score-client against a running server; the server's memory counts in the tree."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "iris_ml", "serve", "--port", str(port), "--workers", "0"]
    server = Server("serve", cmd, env(uri), base + "/invocations", base + "/ping", JSON)
    out = work / "out-client.csv"
    try:
        server.start(work / "serve.log")
        client = [str(BIN / "score-client"), "--url", base, "predict", "--csv", str(source),
                  "--out", str(out)]  # fmt: skip
        seconds, tree, driver = timed_tree(client, env(uri), work / "client.log")
        server_mb = group_rss_mb(server.pid)
    finally:
        server.stop()
    rows = sum(1 for _ in csv.reader(out.open(newline=""))) - 1
    return Figures(seconds, rows, tree + server_mb, driver)


def render(rows: int, figures: dict[str, Figures]) -> str:
    base = figures["score-client"].rows_per_s
    lines = [
        f"Batch scoring of {rows:,} rows (one CSV; each path launched from nothing, one run)",
        "",
        "| path | seconds | rows/s | x score-client | peak MB, tree | peak MB, driver/client |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, f in figures.items():
        lines.append(
            f"| {name} | {f.seconds:.1f} | {f.rows_per_s:,.0f} | {f.rows_per_s / base:.2f} "
            f"| {f.tree_peak_mb:,.0f} | {f.driver_peak_mb:,.0f} |"
        )
    best = max(figures["spark-csv"].rows_per_s, figures["spark-parquet"].rows_per_s) / base
    verdict = "met" if best >= TARGET else "NOT met"
    lines += ["", f"Target: Spark local >= {TARGET:g}x score-client: {best:.2f}x, {verdict}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="iris-bench-batch-"))
    uri = f"sqlite:///{work}/mlflow.db"
    try:
        train_champion(work, uri)
        source = work / "in.csv"
        write_input(source, args.rows)
        figures: dict[str, Figures] = {}
        for name, run in (
            ("spark-csv", lambda: spark_run(work, uri, source, "csv")),
            ("spark-parquet", lambda: spark_run(work, uri, source, "parquet")),
            ("score-client", lambda: client_run(work, uri, source)),
        ):
            figures[name] = run()
            if figures[name].rows != args.rows:
                raise RuntimeError(f"{name}: {figures[name].rows:,} rows out of {args.rows:,}")
            print(f"{name}: {figures[name].seconds:.1f} s", flush=True)
        report = render(args.rows, figures)
        print(report)
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (args.out / f"batch-{stamp}.md").write_text(report + "\n")
        (args.out / f"batch-{stamp}.json").write_text(
            json.dumps({n: f.__dict__ for n, f in figures.items()}, indent=2)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
