"""Start-up and memory benchmark (`make bench-startup`, and the end of `make bench`).

Where a serving process spends its first seconds and its memory, side by side with the
baselines, in one run on one machine:

* imports      each heavy module in a fresh interpreter: wall time and peak RSS
                 (``python -X importtime`` names the slowest packages of the worker's app)
* stages       one fresh process doing what a worker does: import MLflow's scoring server,
                 resolve ``@champion``, download the version, load it, answer one row
* launch       launch to the first 200 on ``/invocations`` and RSS at idle (the worker,
                 and the whole process tree), one worker each:
                 serve-alias      ``iris-ml serve`` on the registry's alias (SQLite store)
                 serve-follow     the same, following the alias (``make serve``'s default;
                                  the tree holds the watcher, which imports MLflow)
                 serve-eager      the same with ``--eager-mlflow``: every worker imports
                                  MLflow at start, as before issue 34 (the baseline)
                 serve-alias-server, serve-eager-server
                                  the alias and the baseline through a tracking server
                                  (``mlflow server`` on the same store, on loopback)
                 serve-path       ``iris-ml serve --model-path DIR`` (a downloaded model:
                                  the container and Azure case)
                 mlflow-serve     ``mlflow models serve`` on the same folder
                 seed-design      FastAPI + a pickled estimator (benchmarks/seed_app)

Targets (issue 34): serve-path's first answer no slower than seed-design (at most 1.5x);
idle RSS per worker at most 150 MB on serve-path, serve-alias and serve-follow; serving
the alias (from the SQLite store or a tracking server) no slower than serve-eager.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.bench import (
    PEAK_RSS_KB,
    REPO,
    Result,
    Server,
    champion_estimator,
    env,
    train_champion,
)
from benchmarks.soak import group_rss_mb, status_mb, worker_pids
from iris_ml.processes import free_port, start_group, stop_groups, wait_until

MODULES = (
    "numpy", "pandas", "fastapi", "sklearn.linear_model", "mlflow",
    "mlflow.pyfunc.scoring_server", "iris_ml.serving.layer", "iris_ml.serving.app",
)  # fmt: skip
# What a worker imports before it answers: the app, then MLflow's scoring server and pyfunc.
WORKER_IMPORTS = ("iris_ml.serving.app", "mlflow.pyfunc.scoring_server", "mlflow.pyfunc")
_MEASURE_IMPORT = (
    "import sys, time; t = time.perf_counter(); __import__(sys.argv[1]); "
    f"print(time.perf_counter() - t, {PEAK_RSS_KB})"
)
# One process doing a worker's stages in order, each timed, RSS after each (MB).
_STAGES = """
import json, sys, tempfile, time
rss = lambda: int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
out, t = {}, time.perf_counter()
def stage(name):
    global t
    now = time.perf_counter(); out[name] = (now - t, rss()); t = now
import mlflow.pyfunc.scoring_server
stage("import MLflow's scoring server")
from mlflow.tracking import MlflowClient
version = MlflowClient().get_model_version_by_alias("iris-classifier", "champion")
stage("resolve @champion")
import mlflow.artifacts
path = mlflow.artifacts.download_artifacts(f"models:/iris-classifier/{version.version}",
                                           dst_path=tempfile.mkdtemp())
stage("download the version")
import mlflow.pyfunc
model = mlflow.pyfunc.load_model(path)
stage("load the model")
import pandas as pd
model.predict(pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=["sepal_length", "sepal_width",
                                                            "petal_length", "petal_width"]))
stage("first prediction")
print(json.dumps(out))
"""


def import_cost(module: str, uri: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a fresh interpreter importing ``module`` alone."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE_IMPORT, module], env=env(uri), capture_output=True,
        text=True, check=True, timeout=300,
    ).stdout.split()  # fmt: skip
    return float(out[0]), float(out[1]) / 1024


def slowest_packages(uri: str, top: int = 8) -> list[tuple[str, float]]:
    """The packages a worker's imports spend most in (each package's own import, cumulative)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import " + ", ".join(WORKER_IMPORTS)],
        env=env(uri), capture_output=True, text=True, check=True, timeout=300,
    ).stderr  # fmt: skip
    totals: dict[str, float] = {}
    for line in err.splitlines():  # "import time: self | cumulative | name", nesting by indent
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| *(\w+)$", line)
        if found and found[2] != "iris_ml":  # a package's root module: all it pulled in
            totals[found[2]] = max(totals.get(found[2], 0.0), int(found[1]) / 1e6)
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def worker_stages(uri: str) -> dict[str, tuple[float, float]]:
    out = subprocess.run(
        [sys.executable, "-c", _STAGES], env=env(uri), capture_output=True, text=True,
        check=True, timeout=600,
    ).stdout  # fmt: skip
    return {k: tuple(v) for k, v in json.loads(out.splitlines()[-1]).items()}


@contextlib.contextmanager
def tracking_server(work: Path, store: str) -> Iterator[str]:
    """``mlflow server`` on ``store``, on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", "--backend-store-uri", store,
           "--artifacts-destination", str(work / "mlartifacts")]  # fmt: skip
    with (work / "tracking-server.log").open("wb") as output:
        proc = start_group(cmd, env=env(store), output=output)
    try:
        wait_until(lambda: _healthy(url), [proc], 120, "mlflow server")
        yield url
    finally:
        stop_groups([proc])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def launches(
    work: Path, uri: str, model_dir: Path, server: str
) -> dict[str, tuple[list[str], dict]]:
    def serve(*extra: str) -> list[str]:
        return [sys.executable, "-m", "iris_ml", "serve", "--workers", "1", *extra]

    seed_env = env(uri, SEED_MODEL_PATH=str(work / "seed" / "model.pkl"), PYTHONPATH=str(REPO))
    mlflow_cmd = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
                  str(model_dir), "--env-manager", "local", "--host", "127.0.0.1"]  # fmt: skip
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    return {
        "serve-alias": (serve(), env(uri)),
        "serve-follow": (serve("--follow"), env(uri)),
        "serve-eager": (serve("--eager-mlflow"), env(uri)),
        "serve-alias-server": (serve(), env(server)),
        "serve-eager-server": (serve("--eager-mlflow"), env(server)),
        "serve-path": (serve("--model-path", str(model_dir)), env(uri)),
        "mlflow-serve": (mlflow_cmd, env(uri)),
        "seed-design": ([uvicorn, "benchmarks.seed_app.app:app", "--host", "127.0.0.1"], seed_env),
    }


def measure_launch(name: str, cmd: list[str], environment: dict, work: Path, f: Result) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(name, [*cmd, "--port", str(port)], environment, base + "/invocations",
                    base + "/ping", {"Content-Type": "application/json"})  # fmt: skip
    try:
        server.start(work / f"{name}.log")
        f.add(f"{name}:first_answer_s", server.cold_start_s)
        time.sleep(2)  # idle: whatever start-up left behind has settled
        f.add(f"{name}:tree_rss_mb", group_rss_mb(server.pid))
        f.add(f"{name}:worker_rss_mb", _worker_rss_mb(server.pid))
    finally:
        server.stop()


def _worker_rss_mb(root: int) -> float:
    """The RSS of the process that answers: uvicorn's spawned worker, else the server itself."""
    workers = worker_pids(root) or _children(root) or [root]
    return max(_rss_mb(pid) for pid in workers)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            is_child = int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent
            watcher = b"follow.watcher" in (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if is_child and not watcher:  # the follow watcher serves nothing
            found.append(int(stat.parent.name))
    return [pid for pid in found if _rss_mb(pid) > 20]  # not a tiny helper (resource tracker)


def _rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="iris-startup-"))
    uri = f"sqlite:///{work}/mlflow.db"
    try:
        train_champion(work, uri)
        _, estimator_dir = champion_estimator(work, uri)
        model_dir = estimator_dir.parent.parent  # the registered pyfunc folder (MLmodel)
        f = Result()
        with tracking_server(work, uri) as server:
            _measure(args.reps, work, uri, model_dir, server, f)
        report = render(f, slowest_packages(uri), args.reps)
        print(report)
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (args.out / f"startup-{stamp}.md").write_text(report)
        (args.out / f"startup-{stamp}.json").write_text(json.dumps(f.values, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _measure(reps: int, work: Path, uri: str, model_dir: Path, server: str, f: Result) -> None:
    for rep in range(reps):
        for module in MODULES:
            seconds, rss = import_cost(module, uri)
            f.add(f"import:{module}:s", seconds)
            f.add(f"import:{module}:mb", rss)
        for stage_name, (seconds, rss) in worker_stages(uri).items():
            f.add(f"stage:{stage_name}:s", seconds)
            f.add(f"stage:{stage_name}:mb", rss)
        for name, (cmd, environment) in launches(work, uri, model_dir, server).items():
            measure_launch(name, cmd, environment, work, f)
        print(f"rep {rep + 1}/{reps} done", flush=True)


LAUNCHES = (
    "serve-alias", "serve-follow", "serve-eager", "serve-alias-server", "serve-eager-server",
    "serve-path", "mlflow-serve", "seed-design",
)  # fmt: skip


def render(f: Result, slowest: list[tuple[str, float]], reps: int) -> str:
    def cell(key: str, fmt: str) -> str:
        value = f.median(key)
        return "" if value is None else fmt.format(value)

    lines = [f"Start-up benchmark: median of {reps} runs on this machine.", "",
             "| import (fresh interpreter) | seconds | peak RSS (MB) |", "| --- | --- | --- |"]  # fmt: skip
    lines += [
        f"| `{m}` | {cell(f'import:{m}:s', '{:.2f}')} | {cell(f'import:{m}:mb', '{:.0f}')} |"
        for m in MODULES
    ]
    lines += ["", "Slowest packages of a worker's imports (-X importtime, cumulative):",
              ", ".join(f"{name} {seconds:.2f} s" for name, seconds in slowest), "",
              "| a worker's stages, in one process | seconds | RSS after (MB) |",
              "| --- | --- | --- |"]  # fmt: skip
    stages = [k.split(":")[1] for k in f.values if k.startswith("stage:") and k.endswith(":s")]
    lines += [
        f"| {s} | {cell(f'stage:{s}:s', '{:.2f}')} | {cell(f'stage:{s}:mb', '{:.0f}')} |"
        for s in stages
    ]
    lines += ["", "| launch, one worker | first answer (s) | worker RSS idle (MB) "
              "| tree RSS idle (MB) |", "| --- | --- | --- | --- |"]  # fmt: skip
    lines += [
        f"| {n} | {cell(f'{n}:first_answer_s', '{:.2f}')} | "
        f"{cell(f'{n}:worker_rss_mb', '{:.0f}')} | {cell(f'{n}:tree_rss_mb', '{:.0f}')} |"
        for n in LAUNCHES
    ]
    lines += ["", "Targets (issue 34):", *(f"- {line}" for line in targets(f))]
    return "\n".join(lines) + "\n"


def targets(f: Result) -> list[str]:
    checks = []
    path, seed = f.median("serve-path:first_answer_s"), f.median("seed-design:first_answer_s")
    if path and seed:
        ratio = path / seed
        verdict = "PASS" if ratio <= 1.0 else ("within 1.5x" if ratio <= 1.5 else "MISS")
        checks.append(f"serve-path / seed-design first answer (<= 1.0, never > 1.5): "
                      f"{ratio:.2f} {verdict}")  # fmt: skip
    for name in ("serve-path", "serve-alias", "serve-follow", "serve-alias-server"):
        rss = f.median(f"{name}:worker_rss_mb")
        if rss:
            checks.append(f"{name} worker RSS idle (<= 150 MB): {rss:.0f} MB "
                          f"{'PASS' if rss <= 150 else 'MISS'}")  # fmt: skip
    pairs = (("serve-alias", "serve-eager"), ("serve-follow", "serve-eager"),
             ("serve-alias-server", "serve-eager-server"))  # fmt: skip
    for name, baseline in pairs:
        now, before = f.median(f"{name}:first_answer_s"), f.median(f"{baseline}:first_answer_s")
        if now and before:
            checks.append(f"{name} / {baseline} first answer (<= 1.0): {now / before:.2f} "
                          f"{'PASS' if now <= before else 'MISS'}")  # fmt: skip
    return checks


if __name__ == "__main__":
    sys.exit(main())
