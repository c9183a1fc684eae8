"""The demo names what holds a port it needs (Linux /proc), instead of guessing."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from iris_ml.processes import free_port, port_holder

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_a_listening_socket_is_named_by_its_process(family, host):
    with socket.socket(family) as listener:
        listener.bind((host, 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_holder(port).startswith(f"pid {os.getpid()}: ")
    assert port_holder(port) is None  # closed: nobody holds it


def test_a_port_nobody_listens_on_has_no_holder():
    assert port_holder(free_port()) is None
