"""Child process groups: start one, wait until it serves, stop it and all it started.

The one home for the demo launcher, the benchmarks and the tests. Standard library
only. Each child starts in its own session, so stopping it reaches what it started too
(uvicorn's workers, the UI's server) and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO


class NotReady(RuntimeError):
    """A child exited, or did not become ready in time."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(BaseException):
    """Ctrl-C or SIGTERM asked this process to stop (a BaseException, like KeyboardInterrupt,
    so no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


@contextlib.contextmanager
def stop_on_signals(grace: float) -> Iterator[None]:
    """Raise ``Stopped`` at the first SIGINT or SIGTERM, ignore the ones after it, and exit
    anyway ``grace`` seconds later.

    Ctrl-C reaches a whole process group at once, and a parent such as ``mlflow run`` then
    sends SIGTERM too: a second signal landing inside the cleanup that the first one started
    (a run's status being written to its store) would interrupt it half-way and can leave a
    lock held that the exit then waits on for ever. If the cleanup itself cannot finish
    (a store that does not answer), the process still ends.
    """

    stopped = []

    def handler(signum: int, _frame: object) -> None:
        stopped.append(signum)
        for stop in STOP_SIGNALS:
            signal.signal(stop, signal.SIG_IGN)
        timer = threading.Timer(grace, os._exit, args=(128 + signum,))
        timer.daemon = True
        timer.start()
        raise Stopped(signum)

    previous = {stop: signal.signal(stop, handler) for stop in STOP_SIGNALS}
    try:
        yield
    finally:
        if not stopped:  # once stopping, stay deaf to signals until the process ends
            for stop, old in previous.items():
                signal.signal(stop, old)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` now, so a server started there would fail.

    The probe binds as uvicorn does (SO_REUSEADDR), so a port an earlier run left in
    TIME_WAIT counts as free, as it is for the server.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


_LISTEN = "0A"  # a socket's state in /proc/net/tcp: TCP_LISTEN


def port_holder(port: int) -> str | None:
    """Which process listens on ``port``, as "pid N: its command line"; None when this user
    cannot see it (another user's process, or no /proc: not Linux)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for fd_dir in Path("/proc").glob("[0-9]*/fd") if inodes else ():
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                raw = (fd_dir.parent / "cmdline").read_bytes()
                command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
                return f"pid {fd_dir.parent.name}: {command[:100]}"
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def start_group(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    output: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` as the leader of a new process group; its output to ``output``."""
    return subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def stop_groups(procs: Sequence[subprocess.Popen[bytes]], grace: float = 15.0) -> None:
    """SIGTERM every group at once, wait up to ``grace`` seconds, then SIGKILL what is left.

    A group is signalled again at the end: children that outlived their leader (uvicorn
    workers) share its group.
    """
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        _signal_group(proc, signal.SIGKILL)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether a GET of ``url`` (http or https) answers 200 now."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  checked above
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(
    ready: Callable[[], bool],
    procs: Sequence[subprocess.Popen[bytes]],
    timeout: float,
    what: str,
    interval: float = 0.25,
) -> None:
    """Poll ``ready`` until it is true; raise NotReady as soon as a child exits or time is up."""
    deadline = time.monotonic() + timeout
    while not ready():
        exited = [p for p in procs if p.poll() is not None]
        if exited:
            raise NotReady(f"{what}: a process exited with status {exited[0].returncode}")
        if time.monotonic() > deadline:
            raise NotReady(f"{what}: not ready after {timeout:g} s")
        time.sleep(interval)


def wait_for(
    refusal: Callable[[], str | None],
    timeout: float,
    what: str,
    say: Callable[[str], None] | None = None,
    interval: float = 2.0,
    every: float = 10.0,
) -> str | None:
    """Ask ``refusal`` until it answers None or ``timeout`` seconds pass; its last answer.

    Services started together (a database, its tracking server, their clients) come up in
    any order: each waits for what it needs and says so, at most once per ``every`` seconds
    (on stderr unless ``say`` is given).
    """
    say = say or _to_stderr
    deadline = time.monotonic() + timeout
    said_at = -every
    while (problem := refusal()) is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            return problem
        if time.monotonic() - said_at >= every:
            say(f"waiting for {what} ({left:.0f} s left): {problem}")
            said_at = time.monotonic()
        time.sleep(min(interval, left))
    return None


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
