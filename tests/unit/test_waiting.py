"""Waiting for another service: said while waiting, bounded, the same flag everywhere."""

from __future__ import annotations

import argparse

import pytest

from iris_ml.commands import add_wait_option, seconds
from iris_ml.processes import wait_for


def test_waiting_ends_when_the_service_answers_and_says_so_once_per_period():
    answers = iter(["connection refused", "connection refused", None])
    said: list[str] = []
    result = wait_for(lambda: next(answers), 30, "the database", said.append, interval=0.01)
    assert result is None
    assert said == ["waiting for the database (30 s left): connection refused"]


def test_waiting_gives_up_after_its_timeout_with_the_last_reason():
    calls: list[int] = []

    def refusal() -> str:
        calls.append(1)
        return f"refused {len(calls)}"

    result = wait_for(refusal, 0.05, "x", lambda _: None, interval=0.01)
    assert result == f"refused {len(calls)}" and len(calls) > 1


def test_no_wait_asks_once():
    calls: list[int] = []
    assert wait_for(lambda: calls.append(1) or "no", 0, "x", calls.append) == "no"
    assert calls == [1]  # asked once, nothing said


@pytest.mark.parametrize("text", ["-1", "nan", "soon", ""])
def test_a_wait_is_zero_or_more_seconds(text):
    with pytest.raises(argparse.ArgumentTypeError):
        seconds(text)


def test_the_wait_flag_defaults_to_not_waiting():
    parser = argparse.ArgumentParser()
    add_wait_option(parser, "the store")
    assert parser.parse_args([]).wait == 0.0
    assert parser.parse_args(["--wait", "90"]).wait == 90.0
