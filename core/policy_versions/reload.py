"""Every process uses the version in force: a watcher thread per process notices an
activation and swaps in a freshly built engine (core.policy.engine.install: one reference
assignment, never clear-and-load), and with it the map of what each tenant runs besides the
default (core.policy.registry: its pinned version, its extension), built before it is
swapped in.

Two ways to notice, both always on where they can be:
* PostgreSQL LISTEN on NOTIFY_CHANNEL (activation sends pg_notify inside its transaction,
  delivered on commit): a switch within milliseconds. Off with MANDATE_POLICY_LISTEN=false,
  e.g. behind PgBouncer in transaction pooling, where a LISTEN does not survive.
* Polling the active pointer every MANDATE_POLICY_POLL_SECONDS (default 2): the fallback,
  and the only way on SQLite. A lost notification or a dropped LISTEN connection costs at
  most one poll interval.

A version that cannot be built (it should never happen: it was validated when proposed) is
logged, and the process keeps the engine it has; it tries again when the pointer moves."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import Connection, make_url

from core.db import Database
from core.policy import engine as policy_engine
from core.policy import registry
from core.policy.engine import PolicyEngine, PolicyFile
from core.policy.registry import Assignments, TenantPolicy
from core.policy_versions import repository as repo

log = logging.getLogger("mandate.policy.reload")


class PolicyWatcher:
    """Keeps this process's engine on the version in force."""

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = 2.0,
        listen: bool = True,
        compile: bool = True,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.listen = listen and db.dialect == "postgresql"
        self.compile = compile
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_serial: int | None = None
        self._synced_serial: int | None = None
        self.serial: int | None = None

    def sync(self) -> bool:
        """Check the pointer once and switch if it moved: the default's engine when it names
        another version, and the tenants' policies (core.policy.registry) whenever its serial
        moved (an activation, a tenant pinned or moved back, an extension). True if the
        default changed."""
        with self.db.engine.connect() as connection:
            state = repo.active_state(connection)
            if state is None:
                # Nothing stored yet: the bundled files stay in force, for every tenant.
                registry.REGISTRY.clear()
                return False
            serial, version_id, hash_ = state
            moved = serial != self._synced_serial
            self.serial = serial
            switch = hash_ != policy_engine.current().version
            if serial == self._failed_serial or not (switch or moved):
                return False
            files = repo.version_files(connection, version_id) if switch else None
            tenants = tenant_assignments(connection, serial)
        engine = None
        if files is not None:
            try:
                engine = PolicyEngine(
                    [PolicyFile(name, text) for name, text in files.items()],
                    compile=self.compile,
                    source=f"policy version {version_id}",
                )
            except Exception:
                self._failed_serial = serial
                log.exception(
                    "cannot build policy version %s; keeping %s",
                    version_id,
                    policy_engine.current().version,
                )
                return False
        registry.REGISTRY.install(tenants, default=engine)
        self._synced_serial = serial
        if engine is not None:
            log.info("policy version %s (%s) in force in this process", version_id, hash_)
        return engine is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="policy-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_seconds + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.listen:
                try:
                    self._listen_until_stopped()
                    continue
                except Exception as exc:  # the database went away: poll until it is back
                    log.warning("policy LISTEN failed (%s); polling", type(exc).__name__)
            self.poll()
            self._stop.wait(self.poll_seconds)

    def poll(self) -> None:
        """sync(), and a failure to reach the database logged, never raised (the process
        serves on with the engine it has)."""
        try:
            self.sync()
        except Exception as exc:
            log.warning("policy poll failed: %s", type(exc).__name__)

    def _listen_until_stopped(self) -> None:
        with self._listening() as connection:
            self.poll()  # anything activated before the LISTEN began
            while not self._stop.is_set():
                # Wake on a notification, or after a poll interval to poll anyway.
                for _notice in connection.notifies(timeout=self.poll_seconds, stop_after=1):
                    pass
                self.poll()

    @contextmanager
    def _listening(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        # The engine's own connection arguments: a multi-host URL (a Patroni cluster) gives
        # libpq its host and port lists, and target_session_attrs finds the primary.
        _args, params = self.db.engine.dialect.create_connect_args(make_url(self.db.url))
        connection = psycopg.connect(**params, autocommit=True, connect_timeout=5)
        try:
            connection.execute(f"LISTEN {repo.NOTIFY_CHANNEL}")
            yield connection
        finally:
            connection.close()


def tenant_assignments(connection: Connection, serial: int) -> Assignments:
    """Which tenant runs what, with the files of every version it names: read when the
    pointer's serial moved (a few rows, and the text of the versions in use)."""
    rows = repo.tenant_policies(connection)
    hashes = [h for _tenant, version, extension in rows for h in (version, extension) if h]
    files = repo.files_by_hash(connection, hashes)
    return Assignments(
        tenants={tenant: TenantPolicy(version, extension) for tenant, version, extension in rows},
        files={
            hash_: tuple(PolicyFile(name, text) for name, text in sorted(texts.items()))
            for hash_, texts in files.items()
        },
        serial=serial,
    )
