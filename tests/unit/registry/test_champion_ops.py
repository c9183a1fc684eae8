"""Champion moves on a real (SQLite) registry, in-process: no training, versions from folders.

The Azure case is the same client with the alias routes answering as Azure ML's MLflow
endpoint does for a route it lacks (404, empty body: ENDPOINT_NOT_FOUND), so promotion
falls back to the alias tag and history still works.
"""

from __future__ import annotations

import json
import shutil

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND
from mlflow.tracking import MlflowClient

from iris_ml.registry import champion

MODEL = "iris-classifier"


def _registry(tmp_path, client_class=MlflowClient) -> MlflowClient:
    client = client_class(f"sqlite:///{tmp_path}/registry.db")
    client.create_registered_model(MODEL)
    for number, gate in enumerate(("passed", "rejected", "passed"), start=1):
        folder = tmp_path / f"model-{number}"
        folder.mkdir()
        version = client.create_model_version(MODEL, str(folder))
        client.set_model_version_tag(MODEL, version.version, "gate", gate)
        client.set_model_version_tag(MODEL, version.version, "gate_reason", f"{gate} reason")
    return client


class AzureLikeClient(MlflowClient):
    """Azure ML's registry answers alias routes 404 with an empty body."""

    def _missing(self, *args, **kwargs):
        raise MlflowException("Response body: ''", error_code=ENDPOINT_NOT_FOUND)

    set_registered_model_alias = _missing
    get_model_version_by_alias = _missing


@pytest.fixture(scope="session")
def registry_file(tmp_path_factory):
    """The three-version registry, built once: creating its schema takes seconds, copying it not."""
    folder = tmp_path_factory.mktemp("registry")
    _registry(folder)
    return folder / "registry.db"


@pytest.fixture(params=[MlflowClient, AzureLikeClient], ids=["aliases", "azure-tag-fallback"])
def client(request, tmp_path, registry_file):
    shutil.copyfile(registry_file, tmp_path / "registry.db")
    return request.param(f"sqlite:///{tmp_path}/registry.db")


def test_moves_are_recorded_with_who_and_why_and_read_back_in_order(client):
    first, how = champion.move(client, MODEL, "champion", "1", "alice", "first")
    second, _ = champion.move(client, MODEL, "champion", "3", "bob", "better")
    assert how in ("alias", "tag")
    assert [
        (m.version, m.previous, m.by, m.reason) for m in champion.history(client, MODEL, "champion")
    ] == [
        ("1", None, "alice", "first"),
        ("3", "1", "bob", "better"),
    ]
    shown = champion.status(client, MODEL, "champion")
    assert (shown.version, shown.since, shown.gate) == ("3", second.at, "passed")
    assert first.at_ms <= second.at_ms
    latest = json.loads(client.get_registered_model(MODEL).tags["moved.champion"])
    assert latest == {"version": "3", "at": second.at, "from": "1", "by": "bob", "reason": "better"}


def test_set_refuses_a_gate_reject_unless_forced_and_says_why(client, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    champion.move(client, MODEL, "champion", "1", "alice", "first")
    with pytest.raises(
        champion.ChampionError, match=r"rejected by the gate \(rejected reason\).*--force"
    ):
        champion.set_champion(client, MODEL, "champion", "2", "try")
    assert champion.status(client, MODEL, "champion").version == "1"
    forced = champion.set_champion(client, MODEL, "champion", "2", "hotfix", force=True)
    assert forced.by == "ci-bot (GitHub Actions)"
    assert forced.reason == "hotfix (forced past the gate)"
    assert champion.set_champion(client, MODEL, "champion", "2", "again", force=True) is None
    with pytest.raises(champion.ChampionError, match="has no version 9"):
        champion.set_champion(client, MODEL, "champion", "9", "typo")


def test_rollback_returns_to_the_previous_champion_and_toggles(client):
    champion.move(client, MODEL, "champion", "1", "alice", "first")
    champion.move(client, MODEL, "champion", "3", "bob", "better")
    back = champion.rollback(client, MODEL, "champion", "worse in production")
    assert (back.version, back.previous) == ("1", "3")
    assert back.reason == "rollback from 3: worse in production"
    assert champion.rollback(client, MODEL, "champion", "undo").version == "3"


def test_rollback_without_a_recorded_predecessor_is_refused(client):
    with pytest.raises(champion.ChampionError, match="nothing to roll back"):
        champion.rollback(client, MODEL, "champion", "why")
    champion.move(client, MODEL, "champion", "1", "alice", "first")
    with pytest.raises(champion.ChampionError, match="no recorded predecessor"):
        champion.rollback(client, MODEL, "champion", "why")


def test_tags_that_are_not_moves_are_ignored(client):
    champion.move(client, MODEL, "champion", "1", "alice", "first")
    client.set_model_version_tag(MODEL, "3", "moved.champion.notanumber", "{}")
    client.set_model_version_tag(MODEL, "3", "moved.champion.123", "not json")
    client.set_model_version_tag(MODEL, "3", "moved.challenger.456", json.dumps({"by": "x"}))
    assert [m.version for m in champion.history(client, MODEL, "champion")] == ["1"]


def test_a_long_reason_is_cut_to_what_a_tag_holds(client):
    record, _ = champion.move(client, MODEL, "champion", "1", "alice", "x" * 5000)
    assert len(record.reason) == champion.MAX_REASON_CHARS
    assert champion.history(client, MODEL, "champion")[0].reason == record.reason


def test_the_cli_prints_one_sentence_on_a_refusal(client, capsys, monkeypatch):
    champion.move(client, MODEL, "champion", "1", "alice", "first")
    monkeypatch.setattr("mlflow.tracking.MlflowClient", lambda: client)
    assert champion.main(["set", "2", "--reason", "try"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Version 2 was rejected by the gate") and err.count("\n") == 1
    assert champion.main(["show"]) == 0
    assert "'champion' is version 1" in capsys.readouterr().out


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_move_without_a_reason_is_refused_before_the_registry_is_asked(reason, capsys):
    with pytest.raises(SystemExit) as refused:
        champion.build_parser().parse_args(["set", "3", "--reason", reason])
    assert refused.value.code == 2
    assert "say why: the reason is recorded with the move" in capsys.readouterr().err
