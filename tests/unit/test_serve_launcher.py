"""The serve launcher's pure parts: which command it would start, and what it refuses."""

from __future__ import annotations

import json

import pytest

from iris_ml import serve
from iris_ml.follow import FOLLOW_ENV, FollowConfig
from iris_ml.serving_app import SERVING_ENV, LayerSettings
from iris_ml.serving_metrics import MULTIPROC_ENV


def test_the_layer_runs_mlflows_command_with_our_factory_in_place_of_its_app(tmp_path, monkeypatch):
    monkeypatch.setattr(serve, "state_dir", lambda: tmp_path)
    settings = serve.ServeSettings(port=5999, workers=2, follow=True, follow_interval=3.0)
    argv, env = serve.layer_command(settings, "4", "models:/m-abc", "/cache/model")
    plain, plain_env = serve.uvicorn_command(settings, "/cache/model")
    assert serve.MLFLOW_APP in plain and serve.MLFLOW_APP not in argv
    assert argv[-2:] == ["--factory", serve.LAYER_APP]
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
    ],
)
def test_following_needs_an_alias_and_the_projects_launcher(argv, refusal, capsys):
    assert serve.main(argv) == 2
    assert refusal in capsys.readouterr().err


def test_version_and_alias_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        serve.build_parser().parse_args(["--version", "3", "--alias", "staging"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_stale_follow_folders_of_dead_servers_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(serve.tempfile, "gettempdir", lambda: str(tmp_path))
    parent = tmp_path / "iris-ml-serve"
    (parent / "999999999").mkdir(parents=True)  # no such pid
    state = serve.state_dir()
    assert not (parent / "999999999").exists()
    assert state.is_dir() and state.parent == parent
