"""Key auth (iris_ml/serving/auth.py): which keys, which routes, which answers."""

from __future__ import annotations

import pytest

from iris_ml.serving import launcher as serve
from iris_ml.serving.auth import (
    ServingKeyError,
    ServingKeys,
    configured_keys,
    is_loopback,
    needs_key,
    parse_keys,
)
from iris_ml.serving.layer import ServingLayer
from iris_ml.serving.metrics import ServingMetrics
from tests.unit.serving.test_serving_layer import JSON, call, mlflow_like_app

KEY = "k3y-Of-Sixteen-Or-More-chars"
NEXT = "n3xt_key~with+slashes/=="


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app, _ = mlflow_like_app(200, b'{"predictions": []}')
    health = lambda: {"status": "ok"}  # noqa: E731
    return ServingLayer(
        app, lambda: "1", ServingMetrics(), health=health, keys=ServingKeys.of((KEY, NEXT))
    )


def test_keys_are_read_from_commas_or_lines_without_comments():
    assert parse_keys(f"{KEY}, {NEXT}", "$SERVING_KEY") == (KEY, NEXT)
    assert parse_keys(f"# rotated on 2026-12-06\n{KEY}\n\n{NEXT}\n", "f") == (KEY, NEXT)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "holds no key"),
        ("# only a comment", "holds no key"),
        (f"{KEY},{NEXT},{KEY}x", "3 keys: at most 2"),
        ("short", "at least 16 characters"),
        ("a key with spaces in it", "at least 16 characters"),
    ],
)
def test_keys_that_cannot_be_used_are_refused_without_echoing_them(text, says):
    with pytest.raises(ServingKeyError) as refused:
        parse_keys(text, "$SERVING_KEY")
    assert says in str(refused.value) and "$SERVING_KEY" in str(refused.value)
    if text.strip():
        assert text.split(",")[0] not in str(refused.value)


def test_the_key_file_wins_and_an_unreadable_one_is_named(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(NEXT + "\n")
    assert configured_keys(str(keys), {"SERVING_KEY": KEY}) == (NEXT,)
    assert configured_keys(None, {"SERVING_KEY": KEY}) == (KEY,)
    assert configured_keys(None, {"SERVING_KEY": "  "}) == ()
    with pytest.raises(ServingKeyError, match="cannot be read"):
        configured_keys(str(tmp_path / "absent"), {})


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (f"Bearer {KEY}", True),
        (f"Bearer {NEXT}", True),  # the second key, while clients rotate
        (f"bearer {KEY}", True),  # the scheme is case-insensitive (RFC 9110)
        (f"Bearer {KEY}x", False),
        (f"Bearer {KEY[:-1]}", False),
        (f"Basic {KEY}", False),
        (KEY, False),
        ("Bearer ", False),
        (None, False),
    ],
)
def test_only_a_bearer_of_a_configured_key_is_accepted(header, accepted):
    keys = ServingKeys.of((KEY, NEXT))
    assert keys.accepts(header.encode() if header is not None else None) is accepted


def test_a_missing_key_and_a_wrong_one_get_401_with_their_challenge(keyed):
    missing = call(keyed, b"{}", JSON)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="iris-ml"'
    assert missing.json()["error_code"] == "UNAUTHENTICATED"
    wrong = call(keyed, b"{}", {**JSON, "Authorization": "Bearer not-the-key-at-all-0000"})
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert "not-the-key" not in wrong.text


def test_every_route_but_the_probes_needs_the_key(keyed):
    assert call(keyed, path="/metrics", method="GET").status_code == 401
    assert call(keyed, path="/version", method="GET").status_code == 401
    assert call(keyed, path="/health", method="GET").json() == {"status": "ok"}
    for probe in ("/ping", "/health", "/v2/health/live", "/v2/health/ready"):
        assert not needs_key(probe)
    with_key = {**JSON, "Authorization": f"Bearer {KEY}"}
    assert call(keyed, b"{}", with_key).status_code == 200
    assert call(keyed, path="/metrics", method="GET", headers=with_key).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
     ("example.com", False)],
)  # fmt: skip
def test_loopback_is_told_from_everything_else(host, loopback):
    assert is_loopback(host) is loopback


def test_a_network_address_without_a_key_refuses_to_start(monkeypatch, capsys):
    monkeypatch.delenv("SERVING_KEY", raising=False)
    assert serve.main(["--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert (
        "without a key" in err and "--allow-unauthenticated" in err and len(err.splitlines()) == 1
    )
    args = serve.build_parser().parse_args(["--host", "0.0.0.0", "--allow-unauthenticated"])
    assert serve._refusal(args) is None
    monkeypatch.setenv("SERVING_KEY", KEY)
    assert serve._refusal(serve.build_parser().parse_args(["--host", "0.0.0.0"])) is None


def test_a_key_cannot_be_asked_of_mlflows_bare_app(monkeypatch, capsys):
    monkeypatch.setenv("SERVING_KEY", KEY)
    assert serve.main(["--plain"]) == 2
    err = capsys.readouterr().err
    assert "no key auth" in err and KEY not in err


def test_the_demo_refuses_a_network_address_without_a_key_before_training(monkeypatch, capsys):
    from iris_ml.cli import demo

    monkeypatch.delenv("SERVING_KEY", raising=False)
    assert demo.main(["--host", "0.0.0.0", "--train"]) != 0  # refused before any training
    assert "without a key" in capsys.readouterr().err
    assert demo.door_problem("127.0.0.1") is None
    monkeypatch.setenv("SERVING_KEY", "short")
    assert "at least 16 characters" in str(demo.door_problem("127.0.0.1"))
