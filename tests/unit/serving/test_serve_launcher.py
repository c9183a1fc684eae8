"""The serve launcher's pure parts: which command it would start, and what it refuses."""

from __future__ import annotations

import json
import os
import shlex
import sys

import pytest

from iris_ml.serving import handoff
from iris_ml.serving import launcher as serve
from iris_ml.serving.app import pinned_health
from iris_ml.serving.handoff import (
    FOLLOW_ENV,
    MULTIPROC_ENV,
    SERVING_ENV,
    WORKER_APP,
    FollowConfig,
    LayerSettings,
    Limits,
)


def test_the_layer_runs_mlflows_command_with_our_factory_in_place_of_its_app(tmp_path, monkeypatch):
    monkeypatch.setattr(serve, "state_dir", lambda: tmp_path)
    settings = serve.ServeSettings(port=5999, workers=2, follow=True, follow_interval=3.0)
    argv, env = serve.layer_command(settings, "4", "models:/m-abc", "/cache/model")
    plain, plain_env = serve.uvicorn_command(settings, "/cache/model")
    assert serve.MLFLOW_APP in plain and serve.MLFLOW_APP not in argv
    assert argv[-2:] == ["--factory", WORKER_APP]
    assert argv[:-2] == [a for a in plain if a != serve.MLFLOW_APP]  # same host, port, workers
    config = FollowConfig(**json.loads(env[FOLLOW_ENV]))
    assert (config.version, config.workers, config.interval) == ("4", 2, 3.0)
    assert config.state_dir == str(tmp_path / "follow")
    layer = LayerSettings(**json.loads(env[SERVING_ENV]))
    assert (layer.model_path, layer.version, layer.payloads) == ("/cache/model", "4", None)
    # prometheus-client reads the folder at import: the launcher sets it before any worker.
    assert env[MULTIPROC_ENV] == str(tmp_path / "metrics") and (tmp_path / "metrics").is_dir()
    ours = {FOLLOW_ENV, SERVING_ENV, MULTIPROC_ENV}
    assert {k: v for k, v in env.items() if k not in ours} == plain_env


def test_without_follow_the_layer_serves_the_pinned_folder_and_logs_payloads_when_asked(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(serve, "state_dir", lambda: tmp_path / "state")
    (tmp_path / "state").mkdir()
    settings = serve.ServeSettings(payload_dir=str(tmp_path / "p"), payload_max_mb=8)
    _, env = serve.layer_command(settings, "2", "", "/cache/model")
    assert FOLLOW_ENV not in env
    payloads = json.loads(env[SERVING_ENV])["payloads"]
    assert payloads["folder"] == str(tmp_path / "p")
    assert (payloads["max_total_bytes"], payloads["max_file_bytes"]) == (8 << 20, 2 << 20)


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["--follow", "--version", "3"], "cannot be combined"),
        (["--follow", "--model-path", "/m"], "cannot be combined"),
        (["--follow", "--via-mlflow-cli"], "--via-mlflow-cli serves MLflow's app alone"),
        (["--plain", "--log-payloads", "/tmp/p"], "--plain serves MLflow's app alone"),
        (["--plain", "--log-requests"], "--plain serves MLflow's app alone"),
        (["--payload-sample-rate", "1.5"], "from 0 to 1"),
        (["--payload-max-mb", "0"], "at least 1"),
        # Each of these used to start: -1 workers as one, 0 s timeouts, a busy follower,
        # and workers crashing in a loop on a folder with no model.
        (["--workers", "-1"], "0 for one per core"),
        (["--timeout", "0"], "whole seconds, at least 1"),
        (["--keep-alive", "0"], "whole seconds, at least 1"),
        (["--follow", "--follow-interval", "-1"], "more than 0"),
        (["--max-body-mb", "0"], "--max-body-mb must be more than 0"),
        (["--max-body-mb", "nan"], "--max-body-mb must be more than 0"),
        (["--max-queue", "0"], "--max-queue at least 1"),
        (["--model-path", "/no/such/model"], "--model-path /no/such/model: no MLflow model"),
    ],
)
def test_settings_that_cannot_serve_are_refused_before_anything_starts(argv, refusal, capsys):
    assert serve.main(argv) == 2
    assert refusal in capsys.readouterr().err


def test_version_and_alias_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        serve.build_parser().parse_args(["--version", "3", "--alias", "staging"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_stale_follow_folders_of_dead_servers_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(handoff.tempfile, "gettempdir", lambda: str(tmp_path))
    parent = tmp_path / "iris-ml-serve"
    (parent / "999999999").mkdir(parents=True)  # no such pid
    state = handoff.state_dir()
    assert not (parent / "999999999").exists()
    assert state.is_dir() and state.parent == parent


def test_the_served_version_reaches_the_model_through_mlflows_serving_config():
    settings = serve.ServeSettings(keep_alive=75, access_log=True)
    env = serve.serving_env("12", settings)
    assert json.loads(env["SERVING_MODEL_CONFIG"]) == {"model_version": "12"}
    assert (env["UVICORN_TIMEOUT_KEEP_ALIVE"], env["UVICORN_ACCESS_LOG"]) == ("75", "true")
    # the scripts beside this interpreter come first, whatever PATH says
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert "SERVING_MODEL_CONFIG" not in serve.serving_env(None, settings)  # a local folder


def test_mlflows_cli_command_carries_every_server_setting():
    settings = serve.ServeSettings(host="0.0.0.0", port=6001, workers=3, timeout=17)
    argv = serve.mlflow_cli_command(settings, "models:/iris-classifier/4")
    assert argv[0] == str(serve.Path(sys.executable).parent / "mlflow")
    flags = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert argv[1:5] == ["models", "serve", "-m", "models:/iris-classifier/4"]
    assert flags == {
        "--env-manager": "local", "--host": "0.0.0.0", "--port": "6001",
        "--workers": "3", "--timeout": "17",
    }  # fmt: skip


def test_zero_workers_means_one_per_core(monkeypatch):
    monkeypatch.setattr(serve.os, "cpu_count", lambda: 6)
    assert serve.ServeSettings(workers=0).worker_count == 6
    assert serve.ServeSettings(workers=2).worker_count == 2
    monkeypatch.setattr(serve.os, "cpu_count", lambda: None)
    assert serve.ServeSettings(workers=0).worker_count == 1


@pytest.mark.parametrize(
    "settings",
    [serve.ServeSettings(), serve.ServeSettings(host="0.0.0.0", port=6003, workers=3, timeout=7)],
)
def test_the_command_is_the_one_mlflow_builds(settings, tmp_path, monkeypatch):
    from mlflow.pyfunc import scoring_server

    monkeypatch.chdir(tmp_path)  # a relative folder becomes the same file URI in both
    ours, our_env = serve.uvicorn_command(settings, "model")
    command, env = scoring_server.get_cmd(
        "model", port=settings.port, host=settings.host, timeout=settings.timeout,
        nworkers=settings.worker_count,
    )  # fmt: skip
    assert [serve.Path(ours[0]).name, *ours[1:]] == shlex.split(command)
    assert our_env == {k: v for k, v in env.items() if os.environ.get(k) != v}


def test_uvicorn_runs_mlflows_app_with_the_same_host_port_workers_and_timeout():
    settings = serve.ServeSettings(host="127.0.0.1", port=6002, workers=2, timeout=9)
    argv, env = serve.uvicorn_command(settings, "/cache/model")
    assert argv[0] == str(serve.Path(sys.executable).parent / "uvicorn")
    assert argv[-1] == serve.MLFLOW_APP
    flags = dict(zip(argv[1:-1:2], argv[2:-1:2], strict=True))
    assert flags == {"--host": "127.0.0.1", "--port": "6002", "--workers": "2"}
    # MLflow hands the model and the request timeout to its app through the environment
    assert env["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] == "9"
    assert env["__pyfunc_model_path__"].endswith("/cache/model")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("70000", "a port is 1-65535, got 70000"), ("0", "a port is 1-65535, got 0"),
     ("http", "not a port number: 'http'")],
)  # fmt: skip
@pytest.mark.parametrize("cli", ["serve", "demo", "demo-ui", "tracking-server"])
def test_every_servers_port_flag_refuses_what_bind_cannot_take(cli, value, problem, capsys):
    from iris_ml.cli import demo
    from iris_ml.tracking import server as tracking_server

    parse = {
        "serve": lambda v: serve.build_parser().parse_args(["--port", v]),
        "demo": lambda v: demo.parse_args(["--port", v]),
        "demo-ui": lambda v: demo.parse_args(["--ui-port", v]),
        "tracking-server": lambda v: tracking_server.build_parser().parse_args(["--port", v]),
    }[cli]
    with pytest.raises(SystemExit) as exited:
        parse(value)
    assert exited.value.code == 2 and problem in capsys.readouterr().err
    accepted = parse("5002")
    assert (accepted.ui_port if cli == "demo-ui" else accepted.port) == 5002


def test_a_pinned_version_the_gate_rejected_is_served_with_one_warning():
    rejected = {"gate": "rejected", "gate_reason": "accuracy 0.3333 is below the floor 0.9000"}
    why = serve.gate_rejection(rejected)
    assert serve.gate_warning("4", str(why)) == (
        "warning: version 4 did not pass the gate (accuracy 0.3333 is below the floor 0.9000);"
        " serving it as asked"
    )
    assert serve.gate_rejection({"gate": "passed"}) is None
    assert serve.gate_rejection({}) is None  # registered before the gate wrote tags


def test_the_gates_reason_reaches_every_workers_health(tmp_path, monkeypatch):
    monkeypatch.setattr(serve, "state_dir", lambda: tmp_path)
    settings = serve.ServeSettings(model_name="iris-x")
    _, env = serve.layer_command(settings, "4", "", "/cache/model", "accuracy 0.3 is below 0.9")
    layer = LayerSettings(**json.loads(env[SERVING_ENV]))
    assert pinned_health(layer) == {
        "status": "warning",
        "model_name": "iris-x",
        "model_version": "4",
        "following": False,
        "gate_rejected": "accuracy 0.3 is below 0.9",
    }
    monkeypatch.setattr(serve, "state_dir", lambda: tmp_path / "again")
    (tmp_path / "again").mkdir()
    _, env = serve.layer_command(settings, None, "", "/some/folder")  # --model-path
    assert pinned_health(LayerSettings(**json.loads(env[SERVING_ENV])))["model_name"] is None


def test_the_limits_reach_every_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(serve, "state_dir", lambda: tmp_path)
    settings = serve.ServeSettings(max_body_mb=0.5, timeout=7, max_queue=3)
    _, env = serve.layer_command(settings, "4", "", "/cache/model")
    monkeypatch.setenv(SERVING_ENV, env[SERVING_ENV])
    assert LayerSettings.from_env().limits == Limits(
        max_body_bytes=512 * 1024, timeout=7, max_queue=3
    )
    assert serve.ServeSettings().limits == Limits()  # one set of defaults


def test_a_payload_folder_is_claimed_once_and_another_stores_folder_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a.db'}")
    folder = tmp_path / "payloads"
    settings = serve.ServeSettings(payload_dir=str(folder))
    assert serve.claim_payload_folder(settings) is None
    recorded = json.loads((folder / "source.json").read_text())
    assert recorded["model_name"] == settings.model_name
    assert serve.claim_payload_folder(settings) is None  # the same store's server again
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'b.db'}")
    refusal = serve.claim_payload_folder(settings)
    assert refusal is not None and "b.db" in refusal and "a.db" in refusal


def test_a_payload_folder_that_cannot_be_made_never_stops_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a.db'}")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = serve.ServeSettings(payload_dir=str(blocker / "payloads"))
    assert serve.claim_payload_folder(settings) is None  # the payload writer reports, then counts


def test_a_broken_source_record_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a.db'}")
    folder = tmp_path / "payloads"
    folder.mkdir()
    (folder / "source.json").write_text("{not json")
    refusal = serve.claim_payload_folder(serve.ServeSettings(payload_dir=str(folder)))
    assert refusal is not None and "source.json" in refusal and "Traceback" not in refusal
