"""The `make demo` launcher: serves the champion and the UI, then stops both on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests import procs

pytestmark = pytest.mark.integration


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_serves_both_prints_urls_and_stops_cleanly_on_ctrl_c(trained_store, tmp_path):
    port, ui_port = procs.free_port(), procs.free_port()
    cmd = [
        sys.executable,
        "-m",
        "iris_ml.cli.demo",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--workers",
        "1",
    ]
    demo = procs.Proc(
        cmd, procs.base_env(trained_store.tracking_uri), tmp_path / "demo.log", cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 240
        while "Press Ctrl-C" not in demo.output():
            assert demo.popen.poll() is None, demo.output()[-3000:]
            assert time.monotonic() < deadline, demo.output()[-3000:]
            time.sleep(0.5)
        out = demo.output()
        assert f"Scoring endpoint: http://127.0.0.1:{port}/invocations" in out
        assert f"UI:               http://127.0.0.1:{ui_port}/" in out
        assert "curl -s" in out and "Ready in" in out
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=10).status_code == 200
        # The printed curl body works as printed.
        body = out.split("-d '", 1)[1].split("'", 1)[0]
        r = httpx.post(
            f"http://127.0.0.1:{port}/invocations",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert r.json()["predictions"][0]["species"] == "setosa"

        demo.popen.send_signal(signal.SIGINT)
        assert demo.popen.wait(60) == 0
        assert "Stopped the scoring server and the UI." in demo.output()
        deadline = time.monotonic() + 20
        while (port_open(port) or port_open(ui_port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not port_open(port) and not port_open(ui_port)
    finally:
        demo.stop()


def test_demo_without_a_champion_says_so_and_exits_1(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "iris_ml.cli.demo",
        "--port",
        str(procs.free_port()),
        "--ui-port",
        str(procs.free_port()),
    ]
    demo = procs.Proc(
        cmd, procs.base_env(f"sqlite:///{tmp_path}/empty.db"), tmp_path / "demo.log", cwd=tmp_path
    )
    try:
        assert demo.popen.wait(120) == 1
        assert "No version of 'iris-classifier' carries the alias 'champion'" in demo.output()
    finally:
        demo.stop()


def test_demo_refuses_a_taken_port_before_starting_anything(tmp_path):
    port = procs.free_port()
    with socket.socket() as foreign:  # an earlier server still on the UI's port
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        ui_port = foreign.getsockname()[1]
        cmd = [
            sys.executable,
            "-m",
            "iris_ml.cli.demo",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
        ]
        demo = procs.Proc(
            cmd, procs.base_env(f"sqlite:///{tmp_path}/empty.db"), tmp_path / "d.log", cwd=tmp_path
        )
        try:
            assert demo.popen.wait(60) == 1
        finally:
            demo.stop()
    out = demo.output()
    holder = f"pid {os.getpid()}: "  # this test's own socket: named by its process
    assert f"Not starting the demo: on 127.0.0.1, port {ui_port} (UI) is in use by {holder}" in out
    assert "Traceback" not in out and "Serving" not in out and not port_open(port)


def test_the_ui_on_a_taken_port_says_so_in_one_line(tmp_path):
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        ui = subprocess.run(
            [sys.executable, "-m", "iris_ml_ui", "--port", str(port)],
            env=procs.base_env(SCORING_URI="http://127.0.0.1:9/invocations"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert ui.returncode == 1 and ui.stdout == ""
    assert ui.stderr == (
        f"ui: cannot listen on http://127.0.0.1:{port}/: the port is in use or the host is not"
        " an address of this machine. Choose another with --port / --host.\n"
    )
