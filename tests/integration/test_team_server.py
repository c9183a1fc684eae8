"""docs/team.md against a real PostgreSQL: its blocks run as written, then the team's day.

The cluster is Debian's PostgreSQL in a temp dir on a free port (tests/postgres.py);
without the binaries these tests skip with that reason (.ci/run installs them).
The only glue between the page's blocks: where the cluster's socket and port are,
`sudo -u postgres` dropped (the harness is already the superuser), and the free
ports and temp folders a test must use instead of 5000 and ./mlartifacts.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from tests import postgres, procs

pytestmark = pytest.mark.integration
TEAM_PAGE = procs.REPO / "docs" / "team.md"
NO_BOTO3 = Path(__file__).resolve().parents[1] / "no_boto3"
MODEL = "iris-classifier"


def page_blocks() -> list[str]:
    """The ```bash blocks of the team page, in order, dedented."""
    blocks = re.findall(r"```bash\n(.*?)```", TEAM_PAGE.read_text(), flags=re.S)
    return [textwrap.dedent(b) for b in blocks]


def block_with(marker: str) -> str:
    found = [b for b in page_blocks() if marker in b]
    assert len(found) == 1, f"docs/team.md: expected one block with {marker!r}"
    return found[0]


@pytest.fixture(scope="module")
def cluster():
    try:
        running = postgres.start_cluster()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        yield running
    finally:
        running.stop()


def make_env(cluster: postgres.Cluster, tmp: Path, **extra: str) -> dict[str, str]:
    """What a team member's shell has: the venv not activated, the page's variables."""
    env = procs.base_env(
        PGPORT=str(cluster.port),
        PGUSER=cluster.superuser,
        PGDATABASE="postgres",
        ARTIFACTS_DESTINATION=str(tmp / "artifacts"),
        HOME=str(tmp / "home"),
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    for name in ("MLFLOW_TRACKING_URI", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(extra)
    env["PATH"] = f"{cluster.bin}:{env['PATH']}"
    (tmp / "home").mkdir(exist_ok=True)
    return env


def run_page_server(cluster, tmp: Path, *blocks: str, **extra: str) -> tuple[procs.Proc, str]:
    port = procs.free_port()
    script = "\n".join(
        [
            "set -euo pipefail",
            f"export PGHOST={cluster.socket_dir}",
            blocks[0].replace("sudo --preserve-env=MLFLOW_DB_PASSWORD -u postgres ", ""),
            'echo "$MLFLOW_DB_PASSWORD" > password.txt',
            "export PGHOST=127.0.0.1",
            *[b.replace("make ", f"make -C {procs.REPO} ") for b in blocks[1:]],
        ]
    )
    env = make_env(cluster, tmp, TRACKING_PORT=str(port), **extra)
    proc = procs.Proc(["bash", "-c", script], env, tmp / "server.log", cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(base + "/health", timeout=180)
    except BaseException:
        proc.stop()
        raise
    return proc, base


def make(target: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-C", str(procs.REPO), target, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def fresh_database(cluster: postgres.Cluster, *names: str) -> None:
    """Each test starts from the page's step 2 on an empty cluster."""
    drops = "".join(f"DROP DATABASE IF EXISTS {n};" for n in names)
    cluster.psql(drops + "DROP ROLE IF EXISTS mlflow;")


def test_the_page_installs_with_make_setup():
    assert "make setup" in page_blocks()[0]
    assert "postgresql+psycopg2://" in block_with("MLFLOW_BACKEND_STORE_URI=")


def test_the_database_password_reaches_psql_through_its_environment_not_argv():
    block = block_with("CREATE ROLE")
    command = next(line for line in block.splitlines() if " psql " in line)
    assert "PASSWORD" not in command.split("psql", 1)[1]  # nothing of it on psql's command line
    assert "\\getenv password MLFLOW_DB_PASSWORD" in block


def test_the_team_page_top_to_bottom_on_postgresql(cluster, tmp_path):
    fresh_database(cluster, "mlflow", "mlflow_auth")
    before = sorted(p.name for p in procs.REPO.iterdir())
    server, base = run_page_server(
        cluster, tmp_path, block_with("CREATE ROLE"), block_with("make tracking-server\n")
    )
    try:
        env = make_env(cluster, tmp_path, MLFLOW_TRACKING_URI=base)
        client_block = block_with("export MLFLOW_TRACKING_URI=")
        assert "make train" in client_block and "make champion" in client_block

        first = make("train", env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "PROMOTED: 'champion' -> version 1" in first.stdout

        # Two trainings at once: the registry hands out distinct versions.
        results: list[subprocess.CompletedProcess] = []
        lanes = [
            threading.Thread(
                target=lambda p=p: results.append(procs.mlflow_run(base, tmp_path, *p.split()))
            )
            for p in ("C=0.01", "seed=3 tolerance=1")
        ]
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join(600)
        assert len(results) == 2
        outputs = "".join(r.stdout for r in results)
        assert "Registered iris-classifier version 2" in outputs, outputs[-3000:]
        assert "Registered iris-classifier version 3" in outputs, outputs[-3000:]
        versions = MlflowClient(base).search_model_versions(f"name='{MODEL}'")
        assert sorted(int(v.version) for v in versions) == [1, 2, 3]

        shown = make("champion", env)
        assert shown.returncode == 0, shown.stderr
        assert "is version" in shown.stdout and "gate:    passed" in shown.stdout

        rejected = next(v.version for v in versions if v.tags.get("gate") == "rejected")
        refused = make("champion-set", env, f"VERSION={rejected}", "REASON=try")
        assert refused.returncode != 0 and "rejected by the gate" in refused.stderr
        champion = str(MlflowClient(base).get_model_version_by_alias(MODEL, "champion").version)
        passed = [str(v.version) for v in versions if v.tags.get("gate") == "passed"]
        other = next(v for v in passed if v != champion)
        moved = make("champion-set", env, f"VERSION={other}", "REASON=team review")
        assert moved.returncode == 0, moved.stderr
        back = make("rollback", env, "REASON=undo")
        assert back.returncode == 0, back.stderr
        history = make("champion-history", env).stdout
        assert f"version {other} (from {champion})" in history and "rollback" in history

        served, serve_base = procs.serve(base, tmp_path, "--workers", "1")
        try:
            flower = {"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[6.3, 3.3, 6.0, 2.5]]}}  # fmt: skip
            answer = httpx.post(serve_base + "/invocations", json=flower, timeout=30).json()
            assert answer["predictions"][0]["model_version"] == champion
        finally:
            served.stop()
    finally:
        server.stop()

    password = (tmp_path / "password.txt").read_text().strip()
    assert len(password) > 20
    for text in (server.output(), first.stdout, first.stderr, shown.stdout, history):
        assert password not in text
    assert any((tmp_path / "artifacts").rglob("*.skops"))  # proxied into the destination
    assert sorted(p.name for p in procs.REPO.iterdir()) == before  # nothing written in the repo


def check_tracking(env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "iris_ml", "check-tracking"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_basic_auth_from_the_page(cluster, tmp_path):
    fresh_database(cluster, "mlflow", "mlflow_auth")
    auth_block = block_with("--app-name basic-auth")
    server, base = run_page_server(
        cluster,
        tmp_path,
        block_with("CREATE ROLE"),
        block_with("MLFLOW_BACKEND_STORE_URI=").replace("make tracking-server\n", ""),
        auth_block,
    )
    try:
        search = base + "/api/2.0/mlflow/experiments/search?max_results=1"
        assert httpx.get(search, timeout=10).status_code == 401
        ini = (tmp_path / "home" / ".config" / "iris-ml" / "basic_auth.ini").read_text()
        admin = re.search(r"admin_password = (\S+)", ini).group(1)
        assert (
            tmp_path / "home" / ".config" / "iris-ml" / "basic_auth.ini"
        ).stat().st_mode & 0o077 == 0
        assert httpx.get(search, auth=("admin", admin), timeout=10).status_code == 200

        env = make_env(cluster, tmp_path, MLFLOW_TRACKING_URI=base)
        anonymous = check_tracking(env)
        assert anonymous.returncode == 2 and "HTTP 401" in anonymous.stderr
        # An authentication failure, said as one, with the variables to set (not "its backend store").
        assert "needs you to log in (HTTP 401; none were sent)" in anonymous.stderr
        assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in anonymous.stderr
        env.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=admin[::-1])
        wrong = check_tracking(env)
        assert wrong.returncode == 2 and "MLFLOW_TRACKING_PASSWORD were refused" in wrong.stderr
        assert admin not in wrong.stderr
        env.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=admin)
        signed_in = check_tracking(env)
        assert signed_in.returncode == 0, signed_in.stderr
        assert admin not in server.output()
        # A first start on an empty database: its workers no longer race to create the tables.
        assert "UniqueViolation" not in server.output() and "Traceback" not in server.output()
    finally:
        server.stop()


def check_only(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "iris_ml", "tracking-server", "--check-only", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def test_a_wrong_driver_an_unreachable_database_or_a_missing_package_is_one_sentence(
    cluster, tmp_path
):
    fresh_database(cluster, "mlflow", "mlflow_auth")
    cluster.psql("CREATE ROLE mlflow WITH LOGIN PASSWORD 'right-one'; CREATE DATABASE mlflow OWNER mlflow;")  # fmt: skip  # pragma: allowlist secret
    env = make_env(cluster, tmp_path)
    cases = {
        f"postgresql://mlflow:right-one@127.0.0.1:{cluster.port}/mlflow": "postgresql+psycopg2://",  # pragma: allowlist secret
        f"postgresql+psycopg2://mlflow:wrong-one@127.0.0.1:{cluster.port}/mlflow": "password authentication failed",  # pragma: allowlist secret
        f"postgresql+psycopg2://mlflow:right-one@127.0.0.1:{procs.free_port()}/mlflow": "Connection refused",  # pragma: allowlist secret
    }  # fmt: skip
    for uri, expected in cases.items():
        result, seconds = check_only({**env, "MLFLOW_BACKEND_STORE_URI": uri})
        assert result.returncode == 2, result.stdout + result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "right-one" not in result.stderr and "wrong-one" not in result.stderr
        assert seconds < 30
    good = f"postgresql+psycopg2://mlflow:right-one@127.0.0.1:{cluster.port}/mlflow"  # pragma: allowlist secret
    result, _ = check_only({**env, "MLFLOW_BACKEND_STORE_URI": good})
    assert result.returncode == 0, result.stderr

    no_boto3 = {**env, "PYTHONPATH": str(NO_BOTO3)}
    result, _ = check_only(no_boto3, "--artifacts-destination", "s3://team-bucket/iris")
    assert result.returncode == 2 and "'boto3'" in result.stderr and "s3 extra" in result.stderr


def test_training_against_a_server_that_cannot_store_artifacts_stops_in_seconds(cluster, tmp_path):
    """The issue's case: an s3:// destination without boto3 made `make train` retry 4.5 min."""
    port = procs.free_port()
    cmd = [
        str(procs.BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{tmp_path}/s.db",
        "--artifacts-destination", "s3://team-bucket/iris", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = make_env(cluster, tmp_path, PYTHONPATH=str(NO_BOTO3))
    server = procs.Proc(cmd, env, tmp_path / "server.log", cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_http(base + "/health", timeout=180)
        started = time.monotonic()
        result = make("train", make_env(cluster, tmp_path, MLFLOW_TRACKING_URI=base))
        seconds = time.monotonic() - started
    finally:
        server.stop()
    assert result.returncode != 0
    assert "cannot use its artifact store: HTTP 500" in result.stderr
    assert "boto3" in result.stderr and "Traceback" not in result.stderr
    assert seconds < 60, seconds


@pytest.mark.parametrize(
    "command",
    [
        ["iris_ml.serving.launcher", "--port", str(procs.free_port())],
        ["iris_ml.registry.champion", "show"],
        ["iris_ml.registry.champion", "set", "1", "--reason", "test"],
        ["iris_ml.monitoring.monitor", "--payloads", "."],
    ],
    ids=["serve", "champion show", "champion set", "monitor"],
)
def test_registry_commands_facing_no_server_say_so_at_once(command, tmp_path):
    # Without the check, MLflow's client retries with backoff for minutes, silently.
    down = f"http://127.0.0.1:{procs.free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", *command],
        env=procs.base_env(down, MLFLOW_TRACKING_TOKEN="secret-token"),  # pragma: allowlist secret
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr == f"error: Cannot reach the tracking server at {down}: Connection refused.\n"
    )
