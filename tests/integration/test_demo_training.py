"""`make demo`'s training step: a gate rejection goes on serving, any other failure stops."""

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from iris_ml.cli.demo import main, train_first
from iris_ml.training.gate import NOT_PROMOTED
from tests import procs

pytestmark = pytest.mark.integration  # tiny child processes stand in for `mlflow run`


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_promoted_run_goes_on(capsys):
    assert train_first(child("print(\"PROMOTED: 'champion' -> version 2\")")) is None
    assert "PROMOTED: 'champion' -> version 2" in capsys.readouterr().out


def test_a_gate_rejection_goes_on_with_the_current_champion(capsys):
    # mlflow run exits 1 whatever failed; the entry point's own line tells a rejection.
    code = f"print({NOT_PROMOTED!r} + ' accuracy 0.5 < 0.9'); raise SystemExit(1)"
    assert train_first(child(code)) is None
    out = capsys.readouterr().out
    assert "accuracy 0.5 < 0.9" in out and "kept the current champion" in out


def test_a_crash_stops_the_demo_with_its_exit_status(capsys):
    code = "import sys; print('Traceback ...', file=sys.stderr); raise SystemExit(1)"
    assert train_first(child(code)) == "training failed (its output is above)"
    assert "Traceback ..." in capsys.readouterr().out  # echoed, not swallowed


def test_the_demo_does_not_start_after_a_failed_training(monkeypatch, capsys):
    commands = []
    monkeypatch.setattr(
        "iris_ml.cli.demo.train_first",
        lambda command: commands.append(command) or "training failed (x)",
    )
    assert main(["--train", "--train-args=-P C=0.5"]) == 1
    assert "Not starting the demo: training failed (x)." in capsys.readouterr().err
    assert commands[0][1:] == ["run", str(Path.cwd()), "--env-manager", "local", "-P", "C=0.5"]


def test_ctrl_c_while_training_waits_for_the_run_and_says_so_in_one_line(tmp_path):
    # A stand-in for `mlflow run` that, like it and train.py, is stopped by the same Ctrl-C
    # and takes a moment to record the run; the whole group gets the signal, as from a terminal.
    training = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        "    time.sleep(1); print('run recorded as FAILED', flush=True); sys.exit(130)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "print('training', flush=True)\n"
        "time.sleep(60)\n"
    )
    wrapper = (
        "import sys\nfrom iris_ml.cli.train import run_project\n"
        f"sys.exit(run_project([sys.executable, '-c', {training!r}]))\n"
    )
    proc = procs.Proc([sys.executable, "-c", wrapper], procs.base_env(), tmp_path / "out.log")
    try:
        proc.wait_output("training", 1, timeout=60)
        os.killpg(proc.popen.pid, signal.SIGINT)
        assert proc.wait_exit(20) == 130
    finally:
        proc.stop()
    out = proc.output()
    assert "run recorded as FAILED" in out  # it waited for the child's own cleanup
    assert "Training stopped: the run is marked FAILED, no alias moved." in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out


def test_a_taken_port_stops_the_demo_before_it_trains(monkeypatch, capsys):
    commands = []
    monkeypatch.setattr("iris_ml.cli.demo.train_first", lambda command: commands.append(command))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--train", "--port", str(port), "--ui-port", str(procs.free_port())]) == 1
    assert commands == []  # nothing trained, nothing registered
    err = capsys.readouterr().err
    assert f"on 127.0.0.1, port {port} (scoring server) is in use by pid {os.getpid()}: " in err
