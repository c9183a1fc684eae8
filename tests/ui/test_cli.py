"""The page's command line: its settings, and what it refuses before Gradio starts."""

import pytest

from iris_ml_ui.cli import parse_settings
from iris_ml_ui.settings import DEFAULT_PORT


def test_port_comes_from_the_flag_then_ui_port_then_the_default(monkeypatch):
    monkeypatch.delenv("UI_PORT", raising=False)
    assert parse_settings([]).port == DEFAULT_PORT
    monkeypatch.setenv("UI_PORT", "7999")
    assert parse_settings([]).port == 7999
    assert parse_settings(["--port", "8001"]).port == 8001


@pytest.mark.parametrize(
    ("flag", "env", "problem"),
    [
        ("70000", None, "a port is 1-65535, got 70000"),  # Gradio's bind: an OverflowError
        (None, "abc", "not a port number: 'abc'"),  # was int()'s ValueError traceback
    ],
)
def test_a_port_bind_cannot_take_is_a_usage_error(flag, env, problem, monkeypatch, capsys):
    monkeypatch.delenv("UI_PORT", raising=False)
    if env:
        monkeypatch.setenv("UI_PORT", env)
    with pytest.raises(SystemExit) as exited:
        parse_settings(["--port", flag] if flag else [])
    assert exited.value.code == 2 and problem in capsys.readouterr().err
