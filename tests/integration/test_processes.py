"""iris_ml/processes.py: groups stopped whole, readiness that fails loudly."""

import socket
import subprocess
import sys
import time

import pytest

from iris_ml.processes import (
    NotReady,
    free_port,
    http_ok,
    pid_alive,
    port_taken,
    start_group,
    stop_groups,
    wait_until,
)

pytestmark = pytest.mark.integration

# A parent that starts a child in its group, prints the child's pid, then ignores SIGTERM.
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print(child.pid, flush=True)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "time.sleep(600)\n"
)


def test_stopping_a_group_ends_its_leader_and_what_it_started_even_if_sigterm_is_ignored():
    leader = subprocess.Popen(  # start_group's own call, with a pipe to read the child's pid
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True
    )
    with leader.stdout:
        child = int(leader.stdout.readline())
    assert pid_alive(child)
    started = time.monotonic()
    stop_groups([leader], grace=1.0)
    assert leader.poll() is not None and time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:  # reaped by init once killed
        time.sleep(0.05)
    assert not pid_alive(child)


def test_waiting_fails_at_once_when_the_process_exits():
    proc = start_group([sys.executable, "-c", "raise SystemExit(4)"])
    with pytest.raises(NotReady, match="exited with status 4"):
        wait_until(lambda: False, [proc], 60, "the server")


def test_waiting_fails_when_time_is_up_and_returns_when_ready():
    proc = start_group([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(NotReady, match=r"not ready after 0\.3 s"):
            wait_until(lambda: False, [proc], 0.3, "the server", interval=0.05)
        calls = []
        wait_until(lambda: calls.append(1) or len(calls) > 2, [proc], 10, "x", interval=0.01)
        assert len(calls) == 3
    finally:
        stop_groups([proc], grace=2)


def test_nothing_listens_on_a_free_port():
    assert not http_ok(f"http://127.0.0.1:{free_port()}/", timeout=1)


def test_port_taken_sees_a_listener_and_not_a_port_left_in_time_wait():
    with socket.socket() as listener:  # an earlier server of ours: uvicorn sets SO_REUSEADDR
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_taken("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first: its port waits in TIME_WAIT
            client.recv(1)
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))  # the port is in TIME_WAIT: a plain bind is refused
    assert not port_taken("127.0.0.1", port)  # as free as uvicorn (SO_REUSEADDR) finds it
