"""Serving benchmark (`make bench`): the project's serve configuration side by side with baselines.

Configurations, all measured in this one run on this machine:

* project          the registered champion served as ``make serve`` does: ``python -m
                   iris_ml serve`` behind the serving layer, metrics and payload log at rate 1.0
* project-bare     the same server without the layer (``--plain``: MLflow's app module)
* project-handler  the project with ``--mlflow-handler-only``: every request through MLflow's
                   handler (what the layer's plain path replaces, measured beside it)
* project-keyed    the project with a serving key (SERVING_KEY): every request carries
                   ``Authorization: Bearer`` (what key auth costs, beside the project)
* project-1w       the same with one worker (the multi-worker penalty check)
* project-sklearn  the plain sklearn-flavour model under the project's serve configuration
                   (what the wrapper's validation and probabilities cost)
* mlflow-default   ``mlflow models serve`` out of the box on the plain sklearn-flavour model:
                   one worker, asyncio + h11 (UVICORN_LOOP/UVICORN_HTTP force what a venv
                   without uvicorn's extras would run)
* seed-design      a FastAPI + pickle app like the seed project's (benchmarks/seed_app)
* azure-1w         the Azure scoring script (deploy/azureml/scoring/score.py) under azmlinfsrv,
                   Azure ML's inference server, with one worker (its default)
* azure-per-core   the same with WORKER_COUNT at one worker per core (what deployment.yml sets)
* project, /v2    the project again on the Open Inference Protocol's infer route, the same
                   rows as one ``features`` tensor (oip_* rows, beside /invocations)
* floor            in-process ``predict_proba`` on 1 row and on 10,000 rows

The load generator is wrk when installed (apt-get install wrk), else a Python
asyncio generator; either way it shares the machine's cores with the server.
Results: a Markdown table on stdout and JSON + Markdown under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import pickle
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.soak import group_rss_mb
from iris_ml.contract import FEATURE_NAMES, TEXTBOOK_FLOWERS
from iris_ml.processes import NotReady, free_port, start_group, stop_groups, wait_until

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COLUMNS = list(FEATURE_NAMES)  # the contract owns the names
SCORING_SCRIPT = REPO / "deploy" / "azureml" / "scoring" / "score.py"
SETOSA = list(TEXTBOOK_FLOWERS[0][0])
JSON = {"Content-Type": "application/json"}
ONE_ROW = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [SETOSA]}})
OIP_INFER = "/v2/models/iris-classifier/infer"


def oip_body(rows: list[list[float]]) -> str:
    """The same rows as one OIP ``features`` tensor."""
    tensor = {"name": "features", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}
    return json.dumps({"inputs": [tensor]})


@dataclass(frozen=True)
class Route:
    """Where and how to send one-row and big requests: a protocol's route and headers."""

    url: str
    headers: dict[str, str]
    one_row: str = ONE_ROW
    body_of: Any = None  # rows -> request body; None: MLflow's dataframe_split

    def big_body(self, rows: np.ndarray) -> str:
        if self.body_of is not None:
            return str(self.body_of(rows.tolist()))
        return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows.tolist()}})


def env(tracking_uri: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_EXPERIMENT_NAME": "iris-bench",
        "PYTHONDONTWRITEBYTECODE": "1",
        **extra,
    }


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    url: str
    ping: str  # answers 200 once the server is up (before the model may be loaded)
    headers: dict[str, str]
    proc: subprocess.Popen | None = None
    cold_start_s: float = 0.0

    def start(self, log: Path) -> None:
        """Start it; return once it answers a one-row request (its cold start is timed)."""
        started = time.monotonic()
        with log.open("wb") as output:
            self.proc = start_group(self.cmd, env=self.env, output=output)
        try:
            wait_until(self._answers, [self.proc], 300, self.name, interval=0.1)
        except NotReady as exc:
            raise RuntimeError(f"{exc}: see {log}") from None
        self.cold_start_s = time.monotonic() - started

    def _answers(self) -> bool:
        try:
            return (
                httpx.get(self.ping, timeout=2).status_code == 200
                and httpx.post(
                    self.url, content=ONE_ROW, headers=self.headers, timeout=10
                ).status_code
                == 200
            )
        except httpx.HTTPError:
            return False

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            stop_groups([self.proc], grace=20)


def sequential_latency_ms(route: Route, n: int) -> tuple[float, float]:
    times = []
    with httpx.Client(timeout=10, headers=route.headers) as client:
        for _ in range(20):
            client.post(route.url, content=route.one_row)
        for _ in range(n):
            t = time.perf_counter()
            r = client.post(route.url, content=route.one_row)
            times.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def wrk_load(route: Route, connections: int, duration: int, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"  # in the run's scratch folder, removed with it (holds a key)
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(route.one_row)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in route.headers.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(2, connections)),
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            str(script),
            route.url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    rps = float(_found(r"Requests/sec:\s+([\d.]+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = _wrk_ms(_found(r"50%\s+([\d.]+\w+)", out))
    p99 = _wrk_ms(_found(r"99%\s+([\d.]+\w+)", out))
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": int(errors.group(1)) if errors else 0,
    }


def _found(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in wrk's report; an error naming it when wrk did not say."""
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"wrk's report lacks {pattern!r}:\n{text[-2000:]}")
    return match.group(1)


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(\w+)", text)
    if match is None:
        raise RuntimeError(f"not a wrk duration: {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def python_load(route: Route, connections: int, duration: int) -> dict[str, float]:
    async def run() -> dict[str, float]:
        latencies: list[float] = []
        errors = 0
        deadline = time.monotonic() + duration

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                t = time.perf_counter()
                r = await client.post(route.url, content=route.one_row)
                latencies.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200

        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(timeout=30, limits=limits, headers=route.headers) as client:
            await asyncio.gather(*(worker(client) for _ in range(connections)))
        return {
            "rps": len(latencies) / duration,
            "p50_ms": statistics.median(latencies),
            "errors": errors,
        }

    return asyncio.run(run())


def key_check_us(calls: int = 100_000) -> float:
    """What checking a request's Bearer key costs the layer, in-process (µs per request)."""
    from iris_ml.serving.auth import ServingKeys

    key = secrets.token_urlsafe(32)
    keys, header = ServingKeys.of((key,)), f"Bearer {key}".encode()
    started = time.perf_counter()
    for _ in range(calls):
        keys.accepts(header)
    return (time.perf_counter() - started) / calls * 1e6


# A fresh interpreter's peak RSS in kB, as code for ``python -c``: its own VmHWM, since
# ru_maxrss would carry the parent's peak over the fork.
PEAK_RSS_KB = "int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"


def mlflow_import_cost() -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a fresh interpreter importing MLflow's scoring server alone.

    Every worker of every configuration but seed-design pays it before loading a model.
    """
    code = (
        "import time; t = time.perf_counter(); import mlflow.pyfunc.scoring_server; "
        f"print(time.perf_counter() - t, {PEAK_RSS_KB})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    return float(out[0]), float(out[1]) / 1024


def big_request_rows_per_s(route: Route, rows: np.ndarray, reps: int = 20, warm: int = 4) -> float:
    """Median of ``reps`` requests, after ``warm`` that reach every worker's first big body
    (five timed requests alone let one slow one move a row by 15%)."""
    body = route.big_body(rows)
    times = []
    with httpx.Client(timeout=120, headers=route.headers) as client:
        for _ in range(warm):
            client.post(route.url, content=body).raise_for_status()
        for _ in range(reps):
            t = time.perf_counter()
            client.post(route.url, content=body).raise_for_status()
            times.append(time.perf_counter() - t)
    return len(rows) / statistics.median(times)


def cli_rows_per_s(url: str, csv_path: Path, out: Path, key: str | None) -> float:
    t = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "score-client"),
            "--url",
            url,
            "predict",
            "--csv",
            str(csv_path),
            "--out",
            str(out),
        ],
        check=True,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **({"SCORING_KEY": key} if key else {})},
    )
    rows = sum(1 for _ in out.open()) - 1
    return rows / (time.perf_counter() - t)


@dataclass
class Result:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)

    def median(self, key: str) -> float | None:
        return statistics.median(self.values[key]) if key in self.values else None

    def spread(self, key: str) -> str:
        v = self.values.get(key)
        return "" if not v or len(v) < 2 else f" ({min(v):.4g}-{max(v):.4g})"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per load level")
    parser.add_argument(
        "--sequential", type=int, default=300, help="one-row requests for p50/p99 without wrk"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--only", nargs="*", help="configs to run (default: all)")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Bench:
    """One run's fixed inputs: its scratch folder, registry, load generator and request data."""

    work: Path
    uri: str
    loadgen: str
    duration: int
    sequential: int
    rows_10k: np.ndarray
    csv_100k: Path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="iris-bench-"))
    uri = f"sqlite:///{work}/mlflow.db"
    cores = os.cpu_count() or 1
    loadgen = "wrk" if shutil.which("wrk") else "python-asyncio"
    print(
        f"Benchmark on {cores} cores; load generator: {loadgen} (shares the cores with the server)",
        flush=True,
    )
    train_s = train_champion(work, uri)
    print(f"mlflow run . --env-manager local: {train_s:.1f} s", flush=True)
    estimator, estimator_dir = champion_estimator(work, uri)
    rows_10k, csv_100k = request_data(work)
    bench = Bench(work, uri, loadgen, args.duration, args.sequential, rows_10k, csv_100k)
    floor = measure_floor(estimator, rows_10k, args.reps)
    configs = server_configs(bench, estimator_dir, cores)
    selected = [c for c in configs if not args.only or c in args.only]
    results: dict[str, Result] = {name: Result() for name in selected}
    for rep in range(args.reps):
        for name in selected:
            measure_server(bench, name, configs[name], rep, results[name])
            rps = results[name].values.get("rps_c32", ["-"])[-1]
            print(f"rep {rep + 1}/{args.reps} {name}: rps@32={rps}", flush=True)
    report = render(results, floor, train_s, loadgen, cores)
    print(report)
    save_results(args.out, report, results, floor, train_s, loadgen, cores)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def train_champion(work: Path, uri: str) -> float:
    """`mlflow run .` into a fresh registry; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "mlflow"), "run", str(REPO), "--env-manager", "local"],
        env=env(uri),
        cwd=work,
        check=True,
        capture_output=True,
        timeout=900,
    )
    return time.perf_counter() - started


def champion_estimator(work: Path, uri: str) -> tuple[object, Path]:
    """The champion's plain estimator (for the floor and the baselines) and its MLflow folder.

    The seed design's app loads it as a pickle, as the seed project did.
    """
    code = f"import mlflow.artifacts as a; print(a.download_artifacts('models:/iris-classifier@champion', dst_path={str(work / 'model')!r}))"
    subprocess.run(
        [sys.executable, "-c", code], env=env(uri), check=True, capture_output=True, timeout=300
    )
    estimator_dir = work / "model" / "artifacts" / "estimator"
    import mlflow.sklearn

    estimator = mlflow.sklearn.load_model(str(estimator_dir))
    (work / "seed").mkdir()
    with open(work / "seed" / "model.pkl", "wb") as pickled:
        pickle.dump(estimator, pickled)
    return estimator, estimator_dir


def request_data(work: Path) -> tuple[np.ndarray, Path]:
    """10,000 rows for one big request and a 100,000-row CSV for score-client, in range."""
    rng = np.random.default_rng(0)
    low, high = [4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5]
    rows_10k = rng.uniform(low, high, size=(10_000, 4)).round(2)
    csv_100k = work / "rows-100k.csv"
    with csv_100k.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rng.uniform(low, high, size=(100_000, 4)).round(2).tolist())
    return rows_10k, csv_100k


def measure_floor(estimator: Any, rows_10k: np.ndarray, reps: int) -> Result:
    """In-process predict_proba, and what importing MLflow's scoring server alone costs."""
    floor = Result()
    one_row = rows_10k[:1]
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(2000):
            estimator.predict_proba(one_row)
        floor.add("floor_1row_ms", (time.perf_counter() - t) / 2000 * 1000)
        t = time.perf_counter()
        estimator.predict_proba(rows_10k)
        floor.add("floor_10k_rows_per_s", 10_000 / (time.perf_counter() - t))
        floor.add("key_check_us", key_check_us())
        seconds, rss = mlflow_import_cost()
        floor.add("mlflow_import_s", seconds)
        floor.add("mlflow_import_rss_mb", rss)
    return floor


@dataclass(frozen=True)
class Config:
    """How to start one configuration, and where it answers."""

    cmd: list[str]
    env: dict[str, str]
    port: int
    key: str | None = None  # the serving key its requests carry

    @property
    def headers(self) -> dict[str, str]:
        return {**JSON, **({"Authorization": f"Bearer {self.key}"} if self.key else {})}

    @property
    def azure(self) -> bool:
        return "azmlinfsrv" in self.cmd[0]


def server_configs(bench: Bench, estimator_dir: Path, cores: int) -> dict[str, Config]:
    work, uri = bench.work, bench.uri
    ports = {name: free_port() for name in CONFIG_NAMES}

    def serve(name: str, workers: int, *extra: str, key: str | None = None) -> Config:
        cmd = [sys.executable, "-m", "iris_ml", "serve", "--port", str(ports[name])]
        environment = env(uri, **({"SERVING_KEY": key} if key else {}))
        return Config([*cmd, "--workers", str(workers), *extra], environment, ports[name], key)

    # What `make serve` runs: the serving layer with metrics and the payload log at rate 1.0.
    payloads = ("--log-payloads", str(work / "payloads"), "--payload-sample-rate", "1.0")
    plain = {"UVICORN_LOOP": "asyncio", "UVICORN_HTTP": "h11"}
    mlflow_serve = [str(BIN / "mlflow"), "models", "serve", "-m", str(estimator_dir)]
    seed_env = env(uri, SEED_MODEL_PATH=str(work / "seed" / "model.pkl"), PYTHONPATH=str(REPO))
    configs = {
        "project": serve("project", 0, *payloads),
        # The same server without the layer: MLflow's app module as `mlflow models serve` runs it.
        "project-bare": serve("project-bare", 0, "--plain"),
        "project-handler": serve("project-handler", 0, *payloads, "--mlflow-handler-only"),
        # As every worker was before issue 34: MLflow's app loaded at start.
        "project-eager": serve("project-eager", 0, *payloads, "--eager-mlflow"),
        # A fresh key per run, in the servers' and load tools' environment and headers only.
        "project-keyed": serve("project-keyed", 0, *payloads, key=secrets.token_urlsafe(32)),
        "project-1w": serve("project-1w", 1),
        "project-sklearn": serve("project-sklearn", 0, "--model-path", str(estimator_dir)),
        "mlflow-default": Config(
            [*mlflow_serve, "--env-manager", "local", "--host", "127.0.0.1",
             "--port", str(ports["mlflow-default"])],
            env(uri, **plain), ports["mlflow-default"],
        ),
        "seed-design": Config(
            [str(BIN / "uvicorn"), "benchmarks.seed_app.app:app", "--host", "127.0.0.1",
             "--port", str(ports["seed-design"])],
            seed_env, ports["seed-design"],
        ),
    }  # fmt: skip
    # Azure ML mounts the registered model and azmlinfsrv runs the scoring script on it.
    for name, workers in (("azure-1w", 1), ("azure-per-core", cores)):
        configs[name] = Config(
            [
                str(BIN / "azmlinfsrv"), "--entry_script", str(SCORING_SCRIPT),
                "--model_dir", str(work / "model"), "--port", str(ports[name]),
            ],
            env(uri, AZUREML_MODEL_DIR=str(work / "model"), WORKER_COUNT=str(workers),
                IRIS_MODEL_VERSION="1"),
            ports[name],
        )  # fmt: skip
    return configs


def measure_server(bench: Bench, name: str, config: Config, rep: int, r: Result) -> None:
    """Start one configuration, measure it under every load, stop it."""
    base = f"http://127.0.0.1:{config.port}"
    path, ping = ("/score", "/") if config.azure else ("/invocations", "/ping")
    server = Server(name, config.cmd, config.env, base + path, base + ping, config.headers)
    route = Route(server.url, config.headers)
    try:
        server.start(bench.work / f"{name}-{rep}.log")
        r.add("cold_start_s", server.cold_start_s)
        time.sleep(1)
        r.add("rss_idle_mb", group_rss_mb(server.pid))
        measure_load(bench, route, r)
        r.add("rows_per_s_10k_request", big_request_rows_per_s(route, bench.rows_10k))
        if name in ("project", "project-keyed"):  # the contract's client; the others lack it
            out = bench.work / f"out-{name}.csv"
            cli = cli_rows_per_s(base, bench.csv_100k, out, config.key)
            r.add("rows_per_s_cli_100k", cli)
        if name == "project":  # the same server on the Open Inference Protocol
            oip = Route(base + OIP_INFER, config.headers, oip_body([SETOSA]), oip_body)
            measure_load(bench, oip, r, prefix="oip_")
            r.add("oip_rows_per_s_10k_request", big_request_rows_per_s(oip, bench.rows_10k))
        r.add("rss_after_load_mb", group_rss_mb(server.pid))
    finally:
        server.stop()


def measure_load(bench: Bench, route: Route, r: Result, prefix: str = "") -> None:
    # Sequential: one connection, the next request after each answer. wrk adds
    # microseconds per request; a Python client adds ~0.4 ms to both sides.
    if bench.loadgen == "wrk":
        one = wrk_load(route, 1, bench.duration, bench.work)
        p50, p99 = one["p50_ms"], one["p99_ms"]
    else:
        p50, p99 = sequential_latency_ms(route, bench.sequential)
    r.add(f"{prefix}seq_p50_ms", p50)
    r.add(f"{prefix}seq_p99_ms", p99)
    for c in (8, 32):
        load = (
            wrk_load(route, c, bench.duration, bench.work)
            if bench.loadgen == "wrk"
            else python_load(route, c, bench.duration)
        )
        r.add(f"{prefix}rps_c{c}", load["rps"])
        r.add(f"{prefix}p50_c{c}_ms", load["p50_ms"])
        r.add(f"{prefix}errors_c{c}", load["errors"])


def save_results(
    out: Path,
    report: str,
    results: dict[str, Result],
    floor: Result,
    train_s: float,
    loadgen: str,
    cores: int,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.md").write_text(report)
    figures = {
        "cores": cores,
        "loadgen": loadgen,
        "train_s": train_s,
        "floor": floor.values,
        "configs": {k: v.values for k, v in results.items()},
    }
    (out / f"bench-{stamp}.json").write_text(json.dumps(figures, indent=2))


CONFIG_NAMES = (
    "project", "project-bare", "project-handler", "project-eager", "project-keyed", "project-1w", "project-sklearn", "mlflow-default", "seed-design",
    "azure-1w", "azure-per-core",
)  # fmt: skip
METRICS = [
    ("cold_start_s", "cold start to first answer (s)", "{:.1f}"),
    ("seq_p50_ms", "one-row p50, sequential (ms)", "{:.2f}"),
    ("seq_p99_ms", "one-row p99, sequential (ms)", "{:.2f}"),
    ("rps_c8", "req/s at 8 connections", "{:.0f}"),
    ("rps_c32", "req/s at 32 connections", "{:.0f}"),
    ("p50_c32_ms", "p50 at 32 connections (ms)", "{:.1f}"),
    ("errors_c32", "non-2xx at 32 connections", "{:.0f}"),
    ("rows_per_s_10k_request", "rows/s, one 10,000-row request", "{:,.0f}"),
    ("rows_per_s_cli_100k", "rows/s, 100,000 rows via score-client CSV", "{:,.0f}"),
    ("oip_seq_p50_ms", "OIP infer: one-row p50, sequential (ms)", "{:.2f}"),
    ("oip_rps_c32", "OIP infer: req/s at 32 connections", "{:.0f}"),
    ("oip_errors_c32", "OIP infer: non-2xx at 32 connections", "{:.0f}"),
    ("oip_rows_per_s_10k_request", "OIP infer: rows/s, one 10,000-row request", "{:,.0f}"),
    ("rss_idle_mb", "serving-tree RSS idle (MB)", "{:.0f}"),
    ("rss_after_load_mb", "serving-tree RSS after load (MB)", "{:.0f}"),
]


def render(
    results: dict[str, Result], floor: Result, train_s: float, loadgen: str, cores: int
) -> str:
    names = list(results)
    lines = [
        f"Serving benchmark: {cores} cores, load generator {loadgen} on the same machine; "
        f"median of {len(next(iter(results.values())).values.get('cold_start_s', []))} runs (range in brackets).",
        "",
        "| metric | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for key, label, fmt in METRICS:
        cells = []
        for name in names:
            value = results[name].median(key)
            cells.append("" if value is None else fmt.format(value) + results[name].spread(key))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Floor (in-process predict_proba): 1 row {floor.median('floor_1row_ms'):.3f} ms; "
        f"10,000 rows {floor.median('floor_10k_rows_per_s'):,.0f} rows/s. "
        f"Checking a Bearer key: {floor.median('key_check_us'):.2f} µs per request. "
        f"`import mlflow.pyfunc.scoring_server` alone: {floor.median('mlflow_import_s'):.1f} s, "
        f"{floor.median('mlflow_import_rss_mb'):.0f} MB peak RSS (per worker). "
        f"`mlflow run . --env-manager local`: {train_s:.1f} s.",
        "",
        "Targets (ratios from this run):",
    ]
    lines += [f"- {t}" for t in targets(results)]
    return "\n".join(lines) + "\n"


# (label, numerator (config, metric), denominator (config, metric), bound, "<=" or ">=")
TARGETS = [
    (
        "throughput at 32 connections, layer with metrics + payload log / without the layer",
        ("project", "rps_c32"),
        ("project-bare", "rps_c32"),
        0.9,
        ">=",
    ),
    (
        "throughput at 32 connections, project / mlflow-default",
        ("project", "rps_c32"),
        ("mlflow-default", "rps_c32"),
        2.0,
        ">=",
    ),
    (
        "one-row p50, project / mlflow-default",
        ("project", "seq_p50_ms"),
        ("mlflow-default", "seq_p50_ms"),
        0.8,
        "<=",
    ),
    (
        "p50 default workers / one worker",
        ("project", "seq_p50_ms"),
        ("project-1w", "seq_p50_ms"),
        1.5,
        "<=",
    ),
    (
        "throughput wrapper / plain sklearn flavour, same serve config",
        ("project", "rps_c32"),
        ("project-sklearn", "rps_c32"),
        0.8,
        ">=",
    ),
    (
        "score-client 100k rows/s / one 10k request rows/s",
        ("project", "rows_per_s_cli_100k"),
        ("project", "rows_per_s_10k_request"),
        0.7,
        ">=",
    ),
    (
        "serving-tree RSS at one worker, project / mlflow-default",
        ("project-1w", "rss_after_load_mb"),
        ("mlflow-default", "rss_after_load_mb"),
        1.0,
        "<=",
    ),
    (
        "cold start at one worker, project / mlflow-default",
        ("project-1w", "cold_start_s"),
        ("mlflow-default", "cold_start_s"),
        1.0,
        "<=",
    ),
]


# Issue 34: the light worker moves no other row by more than 5% (the same server, MLflow at start).
TARGETS += [
    (f"{label}, project / project-eager", ("project", metric), ("project-eager", metric), bound, op)
    for label, metric, bound, op in (
        ("one-row p50", "seq_p50_ms", 1.05, "<="),
        ("throughput at 32 connections", "rps_c32", 0.95, ">="),
        ("one 10,000-row request", "rows_per_s_10k_request", 0.95, ">="),
    )
]


# Issue 18: big batches at C speed, and ahead of the seed's bare FastAPI design.
TARGETS += [
    (
        "one 10,000-row request, project / mlflow-default",
        ("project", "rows_per_s_10k_request"),
        ("mlflow-default", "rows_per_s_10k_request"),
        0.8,
        ">=",
    ),
    (
        "one 10,000-row request, project / seed-design",
        ("project", "rows_per_s_10k_request"),
        ("seed-design", "rows_per_s_10k_request"),
        5.0,
        ">=",
    ),
    (
        "one-row p50, project / seed-design",
        ("project", "seq_p50_ms"),
        ("seed-design", "seq_p50_ms"),
        1.2,
        "<=",
    ),
    (
        "throughput at 32 connections, project / seed-design",
        ("project", "rps_c32"),
        ("seed-design", "rps_c32"),
        1.5,
        ">=",
    ),
]


# Issue 32: a second protocol and a locked door, at (almost) no cost.
TARGETS += [
    ("OIP infer / /invocations, one-row p50", ("project", "oip_seq_p50_ms"),
     ("project", "seq_p50_ms"), 1.1, "<="),
    ("OIP infer / /invocations, req/s at 32 connections", ("project", "oip_rps_c32"),
     ("project", "rps_c32"), 0.9, ">="),
    ("OIP infer / /invocations, one 10,000-row request", ("project", "oip_rows_per_s_10k_request"),
     ("project", "rows_per_s_10k_request"), 0.9, ">="),
    ("keyed / open server, one-row p50", ("project-keyed", "seq_p50_ms"),
     ("project", "seq_p50_ms"), 1.05, "<="),
    ("keyed / open server, req/s at 32 connections", ("project-keyed", "rps_c32"),
     ("project", "rps_c32"), 0.95, ">="),
]  # fmt: skip


def targets(results: dict[str, Result]) -> list[str]:
    checks = []
    for label, (num_cfg, num_key), (den_cfg, den_key), bound, op in TARGETS:
        num = results[num_cfg].median(num_key) if num_cfg in results else None
        den = results[den_cfg].median(den_key) if den_cfg in results else None
        if not num or not den:
            checks.append(f"{label} ({op} {bound}): not measured")
            continue
        ratio = num / den
        ok = ratio >= bound if op == ">=" else ratio <= bound
        checks.append(f"{label} ({op} {bound}): {ratio:.2f} {'PASS' if ok else 'MISS'}")
    return checks


if __name__ == "__main__":
    sys.exit(main())
