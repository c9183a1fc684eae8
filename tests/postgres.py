"""A throwaway PostgreSQL cluster for tests: Debian's binaries, a temp dir, a free port.

``initdb`` refuses to run as root, so as root every server command runs as the
``postgres`` user (``runuser``) in a folder that user owns. The cluster listens
on 127.0.0.1 only, with password (scram) auth for TCP as a real team server
would, and trust on its private Unix socket for the superuser's setup steps.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.procs import free_port


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl live (Debian: /usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@dataclass
class Cluster:
    bin: Path
    root: Path
    port: int
    superuser: str = "postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def run(self, *argv: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self._as_owner([str(self.bin / argv[0]), *argv[1:]]),
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def psql_env(self) -> dict[str, str]:
        """The libpq variables a superuser's `psql` in the docs picks up."""
        return {
            **os.environ,
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": self.superuser,
            "PGDATABASE": "postgres",
        }

    def psql(self, sql: str) -> str:
        result = subprocess.run(
            self._as_owner([str(self.bin / "psql"), "-v", "ON_ERROR_STOP=1", "-X", "-q"]),
            input=sql,
            env=self.psql_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def start(self) -> None:
        self.run(
            "initdb", "-D", str(self.data), "-U", self.superuser, "--auth-local=trust",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        self.run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                self._as_owner(
                    [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """A running cluster; the caller stops it. Raises FileNotFoundError without the binaries."""
    binaries = bin_dir()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    # Not pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="iris-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(binaries, root, free_port())
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
