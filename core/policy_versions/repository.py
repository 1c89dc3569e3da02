"""The queries of policy versions: versions, the active pointer, the names of the people."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased
from sqlmodel import col

from core.models.iam import Tenant, User
from core.models.policy_versions import (
    DEPLOYMENT_SCOPE,
    ActivePolicy,
    PolicyVersion,
    TenantPolicy,
)

# The channel activation notifies on (PostgreSQL); the payload is the new serial.
NOTIFY_CHANNEL = "mandate_policy"


def version(session: Session, version_id: int, *, lock: bool = False) -> PolicyVersion | None:
    stmt = select(PolicyVersion).where(col(PolicyVersion.id) == version_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def version_by_hash(session: Session, hash_: str) -> PolicyVersion | None:
    return session.scalars(select(PolicyVersion).where(col(PolicyVersion.hash) == hash_)).first()


def versions(session: Session, bank_id: int | None = None) -> list[PolicyVersion]:
    """Every version, newest first; with `bank_id`, of the extensions only its tenants'."""
    stmt = select(PolicyVersion).order_by(col(PolicyVersion.id).desc())
    if bank_id is not None:
        stmt = stmt.where(
            or_(
                col(PolicyVersion.tenant_id).is_(None),
                col(PolicyVersion.tenant_id).in_(
                    select(col(Tenant.id)).where(col(Tenant.bank_id) == bank_id)
                ),
            )
        )
    return list(session.scalars(stmt))


# The key of the PostgreSQL advisory lock activations take (any constant of Mandate's own).
ACTIVATION_LOCK = 0x4D414E44  # "MAND"


def serialize_activations(session: Session) -> None:
    """Activations take turns, even the first (no pointer row to lock yet): a transaction
    lock on PostgreSQL; on SQLite a write unit of work already holds the one write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ACTIVATION_LOCK})


def active_pointer(session: Session, *, lock: bool = False) -> ActivePolicy | None:
    stmt = select(ActivePolicy).where(col(ActivePolicy.scope) == DEPLOYMENT_SCOPE)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def point_to(
    session: Session, pointer: ActivePolicy | None, version_id: int, now: dt.datetime
) -> int:
    """Put `version_id` in force: the pointer (created for the first version) names it and its
    serial moves on, which every process polls. Answers the new serial."""
    if pointer is None:
        pointer = ActivePolicy(
            scope=DEPLOYMENT_SCOPE, version_id=version_id, serial=1, changed_at=now
        )
        session.add(pointer)
    else:
        pointer.version_id = version_id
        pointer.serial += 1
        pointer.changed_at = now
    return pointer.serial


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows: Sequence[Any] = session.execute(
        select(col(User.id), col(User.username)).where(col(User.id).in_(wanted))
    ).all()
    return {int(row[0]): str(row[1]) for row in rows}


def notify(session: Session, serial: int) -> None:
    """Tell every listening process the pointer moved; PostgreSQL delivers it on commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": str(serial)},
        )


def active_state(connection: Connection) -> tuple[int, int, str] | None:
    """(serial, version id, hash) of the version in force, or None while none is stored: what
    every process polls (a one-row table, read by its key)."""
    row = connection.execute(
        select(col(ActivePolicy.serial), col(PolicyVersion.id), col(PolicyVersion.hash))
        .join(PolicyVersion, col(PolicyVersion.id) == col(ActivePolicy.version_id))
        .where(col(ActivePolicy.scope) == DEPLOYMENT_SCOPE)
    ).first()
    if row is None:
        return None
    values: tuple[Any, ...] = tuple(row)
    serial, version_id, hash_ = values
    return int(serial), int(version_id), str(hash_)


def version_files(connection: Connection, version_id: int) -> dict[str, str]:
    files = connection.execute(
        select(col(PolicyVersion.files)).where(col(PolicyVersion.id) == version_id)
    ).scalar_one()
    return dict(files)


def tenant_policies(connection: Connection) -> list[tuple[int, str | None, str | None]]:
    """(tenant id, pinned version's hash or None, extension's hash or None) of every tenant
    that runs more than the default: what every process holds in memory."""
    pinned = aliased(PolicyVersion)
    extension = aliased(PolicyVersion)
    rows: Sequence[Any] = connection.execute(
        select(col(TenantPolicy.tenant_id), col(pinned.hash), col(extension.hash))
        .outerjoin(pinned, col(pinned.id) == col(TenantPolicy.version_id))
        .outerjoin(extension, col(extension.id) == col(TenantPolicy.extension_id))
        .where(
            or_(
                col(TenantPolicy.version_id).is_not(None),
                col(TenantPolicy.extension_id).is_not(None),
            )
        )
        .order_by(col(TenantPolicy.tenant_id))
    ).all()
    return [(int(r[0]), r[1], r[2]) for r in rows]


def files_by_hash(connection: Connection, hashes: Iterable[str]) -> dict[str, dict[str, str]]:
    """The files of the versions with these hashes."""
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    rows: Sequence[Any] = connection.execute(
        select(col(PolicyVersion.hash), col(PolicyVersion.files)).where(
            col(PolicyVersion.hash).in_(wanted)
        )
    ).all()
    return {str(r[0]): dict(r[1]) for r in rows}


# -- what each tenant runs -----------------------------------------------------------------


def tenant_policy(session: Session, tenant_id: int, *, lock: bool = False) -> TenantPolicy | None:
    stmt = select(TenantPolicy).where(col(TenantPolicy.tenant_id) == tenant_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def tenant_policies_of(session: Session, tenant_ids: Iterable[int]) -> dict[int, TenantPolicy]:
    wanted = sorted(set(tenant_ids))
    if not wanted:
        return {}
    rows = session.scalars(select(TenantPolicy).where(col(TenantPolicy.tenant_id).in_(wanted)))
    return {row.tenant_id: row for row in rows}


def tenants_of_bank(session: Session, bank_id: int) -> list[Tenant]:
    return list(
        session.scalars(
            select(Tenant).where(col(Tenant.bank_id) == bank_id).order_by(col(Tenant.id))
        )
    )


def versions_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, PolicyVersion]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.scalars(select(PolicyVersion).where(col(PolicyVersion.id).in_(wanted)))
    return {row.id: row for row in rows if row.id is not None}


def pinned_to(session: Session, version_id: int, *, lock: bool = False) -> list[TenantPolicy]:
    """The tenants pinned to this platform version."""
    stmt = (
        select(TenantPolicy)
        .where(col(TenantPolicy.version_id) == version_id)
        .order_by(col(TenantPolicy.tenant_id))
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt))


def in_use(session: Session, version_id: int) -> bool:
    """Whether some tenant runs this version (pinned to it, or as its extension)."""
    stmt = select(col(TenantPolicy.tenant_id)).where(
        or_(
            col(TenantPolicy.version_id) == version_id, col(TenantPolicy.extension_id) == version_id
        )
    )
    return session.execute(stmt.limit(1)).first() is not None


def following_default(session: Session, bank_id: int | None = None) -> list[TenantPolicy]:
    """The tenants with a row that follow the default (no pin): those carrying an extension."""
    stmt = select(TenantPolicy).where(
        col(TenantPolicy.version_id).is_(None), col(TenantPolicy.extension_id).is_not(None)
    )
    if bank_id is not None:
        stmt = stmt.where(
            col(TenantPolicy.tenant_id).in_(
                select(col(Tenant.id)).where(col(Tenant.bank_id) == bank_id)
            )
        )
    return list(session.scalars(stmt.order_by(col(TenantPolicy.tenant_id))))
