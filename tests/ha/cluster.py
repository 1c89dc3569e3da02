"""A PostgreSQL cluster under Patroni for the failover test: one etcd and two PostgreSQL 15
instances (Debian's `etcd-server`, `patroni` and the server binaries), each in a temporary
folder, on free loopback ports, with synchronous replication, so that a commit acknowledged
by the primary is on the standby too. Started and torn down by `Cluster` as a context
manager; nothing stays behind.

Patroni is told to fail over rather than restart a primary that crashed
(`primary_start_timeout: 0`): a SIGKILL of the primary's postmaster is then what the loss of
that server is, and the standby is promoted once Patroni has seen it (`loop_wait` of a
second)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from tests.conftest import free_port

PG_BIN = Path(os.environ.get("MANDATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PATRONI = shutil.which("patroni")
ETCD = shutil.which("etcd")
MISSING = [
    name
    for name, found in (
        ("patroni", PATRONI),
        ("etcd", ETCD),
        ("PostgreSQL 15 server binaries", (PG_BIN / "postgres").exists() or None),
    )
    if found is None
]
SCOPE = "mandate-ha"
DATABASE = "mandate"


@dataclass
class Node:
    name: str
    folder: Path
    pg_port: int
    api_port: int
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def status(self) -> dict[str, Any] | None:
        """Patroni's view of this node (GET /patroni), or None while it does not answer."""
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.api_port}/patroni", timeout=2)
        except httpx.HTTPError:
            return None
        return dict(answer.json())


class Cluster:
    """etcd and two Patroni nodes; `url` is the libpq multi-host URL Mandate is given."""

    def __init__(self) -> None:
        if MISSING:
            raise RuntimeError(f"the failover test needs {', '.join(MISSING)}")
        # PostgreSQL refuses to run as root: as root, the nodes run as the postgres user,
        # who must own their folders (a pytest tmp_path under /tmp/pytest-of-root is not
        # reachable for them).
        self.as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="mandate-ha-"))
        self.etcd_port, self.etcd_peer_port = free_port(), free_port()
        self.nodes = [
            Node(f"node{n}", self.folder / f"node{n}", free_port(), free_port()) for n in (1, 2)
        ]
        self.etcd: subprocess.Popen[bytes] | None = None
        self._etcd_log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.pg_port}" for node in self.nodes)
        return f"postgresql://postgres@{hosts}/{DATABASE}?target_session_attrs=read-write"

    def __enter__(self) -> Cluster:
        try:
            self._start_etcd()
            for node in self.nodes:
                self._start_node(node)
            self.wait_for(lambda: self.leader() is not None and self.sync_standby() is not None)
            self._create_database()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(timeout=5)
            self._kill_postgres_left(node)
            if node.log is not None:
                node.log.close()
        if self.etcd is not None:
            self.etcd.terminate()
            try:
                self.etcd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
        if self._etcd_log is not None:
            self._etcd_log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- what the test asks -------------------------------------------------------------

    def leader(self) -> Node | None:
        for node in self.nodes:
            status = node.status()
            if (
                status
                and status.get("role") in ("master", "primary")
                and (status.get("state") == "running")
            ):
                return node
        return None

    def sync_standby(self) -> Node | None:
        for node in self.nodes:
            status = node.status()
            if status and status.get("role") == "replica" and status.get("sync_standby"):
                return node
        return None

    def other_than(self, node: Node) -> Node:
        return next(other for other in self.nodes if other is not node)

    def kill_postmaster(self, node: Node) -> None:
        """SIGKILL the node's postmaster: the server is gone, its backends die with it."""
        os.kill(node.postmaster_pid(), signal.SIGKILL)

    def wait_for(self, condition: Any, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster did not settle:\n{self.logs()}")
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"patroni {node.name} exited:\n{self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        parts = []
        for path in sorted(self.folder.glob("*.log")):
            parts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    # --- starting -----------------------------------------------------------------------

    def _start_etcd(self) -> None:
        assert ETCD is not None
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._etcd_log = (self.folder / "etcd.log").open("wb")
        self.etcd = subprocess.Popen(
            [
                ETCD,
                "--name=etcd",
                f"--data-dir={self.folder / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=etcd={peer}",
                "--initial-cluster-state=new",
            ],
            stdout=self._etcd_log,
            stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            try:
                return httpx.get(f"{client}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_for(up, timeout=30)

    def _start_node(self, node: Node) -> None:
        assert PATRONI is not None
        node.folder.mkdir()
        config = node.folder / "patroni.yml"
        config.write_text(yaml.safe_dump(self._config(node)))
        if self.as_root:
            postgres = pwd.getpwnam("postgres")
            for path in (self.folder, node.folder, config):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
            self.folder.chmod(0o755)
        node.log = (self.folder / f"{node.name}.log").open("wb")
        node.process = subprocess.Popen(
            [PATRONI, str(config)],
            stdout=node.log,
            stderr=subprocess.STDOUT,
            user="postgres" if self.as_root else None,
            cwd=node.folder,
        )

    def _config(self, node: Node) -> dict[str, Any]:
        trust = [
            "local all all trust",
            "host all all 127.0.0.1/32 trust",
            "host replication replicator 127.0.0.1/32 trust",
        ]
        return {
            "scope": SCOPE,
            "name": node.name,
            "restapi": {
                "listen": f"127.0.0.1:{node.api_port}",
                "connect_address": f"127.0.0.1:{node.api_port}",
            },
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_port}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": 20,
                    "loop_wait": 1,
                    "retry_timeout": 5,
                    "maximum_lag_on_failover": 1_048_576,
                    "synchronous_mode": True,
                    "primary_start_timeout": 0,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {"wal_log_hints": "on", "max_connections": 100},
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}],
                "pg_hba": trust,
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data),
                "bin_dir": str(PG_BIN),
                "pgpass": str(node.folder / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "replicator", "password": "replicator"},
                },
                "parameters": {
                    "unix_socket_directories": str(node.folder),
                    "fsync": "off",  # only postmasters are killed here, never the machine
                },
                "pg_hba": trust,
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }

    def _create_database(self) -> None:
        leader = self.leader()
        assert leader is not None
        subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(leader.pg_port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                f"CREATE DATABASE {DATABASE}",
            ],
            check=True,
            capture_output=True,
        )

    def _kill_postgres_left(self, node: Node) -> None:
        """A postmaster Patroni left behind (Patroni killed mid-start): stopped for good."""
        try:
            pid = node.postmaster_pid()
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
