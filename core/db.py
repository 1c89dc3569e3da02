"""Engine, sessions and the unit of work: one transaction per request or command.

PostgreSQL runs at READ COMMITTED; money-moving code locks the rows it changes
(SELECT ... FOR NO KEY UPDATE, in id order). SQLite has one writer at a time: a
write unit of work starts with BEGIN IMMEDIATE so it holds the write lock from
its first statement and can never fail half-way on a lock upgrade.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import BigInteger, DateTime, Engine, Integer, Table, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from core.errors import MandateError

T = TypeVar("T")

# SQLSTATEs worth retrying on PostgreSQL: serialization failure, deadlock, lock timeout.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}
_SQLITE_BUSY_MESSAGES = ("database is locked", "database is busy", "database table is locked")
# SQLSTATE classes meaning the server cannot be reached or went away.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57")


# 64-bit keys for the tables that grow without bound; SQLite only autoincrements INTEGER keys.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class, for Core statements and `.c` columns."""
    # The declarative mapping sets __table__ on every table class; SQLModel does not declare it.
    return cast(Table, cast(Any, model).__table__)


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None)


def is_retryable(exc: BaseException) -> bool:
    """A transaction that failed only because of contention and may be run again."""
    if not isinstance(exc, DBAPIError):
        return False
    state = sqlstate(exc)
    if state in _RETRYABLE_SQLSTATES:
        return True
    message = str(getattr(exc, "orig", exc)).lower()
    return any(m in message for m in _SQLITE_BUSY_MESSAGES)


def is_unique_violation(exc: BaseException) -> bool:
    """An insert refused by a unique constraint or index."""
    if not isinstance(exc, IntegrityError):
        return False
    if sqlstate(exc) == "23505":
        return True
    return "unique constraint failed" in str(getattr(exc, "orig", exc)).lower()


@contextmanager
def unique_or(session: Session, conflict: Exception) -> Iterator[None]:
    """Run the inserts of the block in a savepoint; if a unique constraint refuses them (a
    concurrent request created the same name between our check and our insert), raise
    `conflict` instead, with the rest of the transaction intact for the audit trail."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise conflict from exc
        raise


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (connection refused, dropped, server shutting down)."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = sqlstate(exc)
    if state is not None:
        return state.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all.
    return isinstance(exc, OperationalError) and not is_retryable(exc)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based) before the next: jittered
    around (2..10 ms) * 2**attempt, so colliding transactions do not collide again in step."""
    return random.uniform(0.002, 0.01) * 2**attempt


def describe_error(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, detail) for an error the domain or the database raised; anything else
    is an unexpected error (the faces add what their framework raises)."""
    if isinstance(exc, MandateError):
        return exc.status, exc.code, exc.detail
    if isinstance(exc, DBAPIError):
        if is_retryable(exc):
            return 503, "contention", "too much contention right now; retry shortly"
        if is_unavailable(exc):
            return 503, "database_unavailable", "the database cannot be reached; retry shortly"
    return 500, "internal_error", "an unexpected error; it has been logged"


class Database:
    """The process's engine and session factory."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        transaction_pooling: bool = False,
    ) -> None:
        self.url = url
        # Behind PgBouncer in transaction pooling, consecutive transactions of one connection
        # may reach different server connections: no server-side prepared statements then
        # (psycopg's prepare_threshold=None). Nothing else of a session is relied on: advisory
        # locks are transaction-scoped, and the policy watcher polls (api.app).
        self.transaction_pooling = transaction_pooling
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(
                url,
                echo=echo,
                # An error names the statement, never its values (hashes, tokens, names).
                hide_parameters=True,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(
                url,
                echo=echo,
                # An error names the statement, never its values (hashes, tokens, names).
                hide_parameters=True,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=10,
                # Fail fast when the server cannot be reached, and notice a peer that went
                # silent (a dropped network path) in seconds rather than TCP's minutes.
                connect_args={
                    "connect_timeout": 5,
                    "keepalives": 1,
                    "keepalives_idle": 10,
                    "keepalives_interval": 5,
                    "keepalives_count": 3,
                    "tcp_user_timeout": 30_000,
                    **({"prepare_threshold": None} if transaction_pooling else {}),
                },
            )
        self._write_engine = self.engine.execution_options(mandate_write=True)
        # Single-statement reads (who is signing in, whose token is this) need no transaction:
        # on PostgreSQL that saves the BEGIN and COMMIT round trips on every request.
        self._read_once_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool) -> Session:
        bind = self._write_engine if write else self.engine
        return Session(bind=bind, expire_on_commit=False, autoflush=True)

    @contextmanager
    def single_read(self) -> Iterator[Session]:
        """A session for one read statement, outside any transaction where the database allows."""
        session = Session(bind=self._read_once_engine, expire_on_commit=False, autoflush=False)
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        session = self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self, work: Callable[[Session], T], *, write: bool = True, attempts: int = 5) -> T:
        """Run `work` in its own unit of work; contention failures are retried a few times."""
        for attempt in range(1, attempts + 1):
            try:
                with self.unit_of_work(write=write) as session:
                    return work(session)
            except DBAPIError as exc:
                if attempt == attempts or not is_retryable(exc):
                    raise
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN so we can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("mandate_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class SessionQueue:
    """Things noted on a session for its commit (chain links, payments' steps): a savepoint
    rolled back forgets what was noted inside it, and the whole transaction's end (commit or
    rollback) forgets the rest, so nothing noted by work that was undone is ever written."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._marks = f"{key}.marks"
        event.listen(Session, "after_transaction_create", self._mark)
        event.listen(Session, "after_soft_rollback", self._rolled_back)
        event.listen(Session, "after_transaction_end", self._ended)

    def add(self, session: Session, item: Any) -> None:
        session.info.setdefault(self.key, []).append(item)

    def take(self, session: Session) -> list[Any]:
        """Everything noted, and the queue emptied (at commit)."""
        taken: list[Any] = session.info.pop(self.key, None) or []
        return taken

    def _mark(self, session: Session, transaction: Any) -> None:
        if transaction.nested:
            marks = session.info.setdefault(self._marks, {})
            marks[id(transaction)] = len(session.info.get(self.key, ()))

    def _rolled_back(self, session: Session, previous: Any) -> None:
        if previous.nested:
            mark = session.info.get(self._marks, {}).pop(id(previous), None)
            if mark is not None and self.key in session.info:
                del session.info[self.key][mark:]

    def _ended(self, session: Session, transaction: Any) -> None:
        if transaction.parent is None:  # the session's own transaction, not a savepoint
            session.info.pop(self.key, None)
            session.info.pop(self._marks, None)
