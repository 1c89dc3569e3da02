"""Export bundles: a period's chained records for an auditor, verifiable offline.

A bundle is one zip: per chain a JSON-lines file of its links over the period (each with the
record as hashed, its personal fields and their salt unless the person was erased), then the
links after the period up to a signed checkpoint (hashes only: they prove the period's links
are the ones that checkpoint signed); the checkpoints; the audit key's public half; a
manifest of every file's SHA-256, signed with the audit key; and a copy of the verifier
(core.audit.offline). When no stored checkpoint reaches the period's end, the export signs
the chain's current head itself (a checkpoint of the bundle, not stored)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from core.audit import canonical, offline
from core.audit.checkpoints import AuditKey
from core.audit.records import records_of
from core.context import RequestContext
from core.db import table_of
from core.errors import InvalidRequest
from core.models.audit_chain import AuditChain, AuditCheckpoint, AuditLink
from core.policy.facts import Resource
from core.policy.service import require_readable, tenant_within_reach

_CHAINS = table_of(AuditChain)
_LINKS = table_of(AuditLink)
_CHECKPOINTS = table_of(AuditCheckpoint)
FORMAT = "mandate-audit-bundle/1"
# One bundle covers at most this many days (as a statement export): a year's evidence.
MAX_PERIOD_DAYS = 366
_PAGE = 1000


@dataclass(frozen=True)
class Period:
    """Records made from `start` (included) to `end` (excluded)."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of_days(cls, first: dt.date, last: dt.date) -> Period:
        """UTC days `first` to `last`, both included."""
        if last < first:
            raise InvalidRequest("the period ends before it starts", code="invalid_period")
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise InvalidRequest(
                f"one bundle covers at most {MAX_PERIOD_DAYS} days", code="period_too_long"
            )
        start = dt.datetime.combine(first, dt.time(), dt.UTC)
        return cls(start, dt.datetime.combine(last, dt.time(), dt.UTC) + dt.timedelta(days=1))


def bundle_name(tenant_id: int | None, first_day: dt.date, last_day: dt.date) -> str:
    """The file name a bundle is downloaded as (the API and the console)."""
    return f"mandate-audit-{tenant_id or 'bank'}-{first_day}-{last_day}.zip"


def export_bundle(
    session: Session,
    ctx: RequestContext,
    key: AuditKey,
    first_day: dt.date,
    last_day: dt.date,
    tenant_id: int | None,
) -> bytes:
    """The bundle of the caller's bank's chains (one company's with `tenant_id`) over UTC
    days `first_day` to `last_day`, for a compliance officer (audit.export; the export is a
    logged decision)."""
    actor = ctx.require_actor()
    period = Period.of_days(first_day, last_day)
    if tenant_id is not None:
        tenant_within_reach(session, ctx, tenant_id)
    require_readable(
        session,
        ctx,
        "audit.export",
        Resource.of_bank(actor.bank_id),
        not_found="not found",
        log_allowed=True,
    )
    return build_bundle(session.connection(), key, actor.bank_id, tenant_id, period, ctx.now())


def build_bundle(
    conn: Connection,
    key: AuditKey,
    bank_id: int,
    tenant_id: int | None,
    period: Period,
    now: dt.datetime,
) -> bytes:
    """The bundle (see the module's docstring); no decision asked: for the operator's CLI."""
    stmt = select(_CHAINS).where(_CHAINS.c.bank_id == bank_id).order_by(_CHAINS.c.chain)
    if tenant_id is not None:
        stmt = stmt.where(_CHAINS.c.tenant_id == tenant_id)
    files: dict[str, bytes] = {}
    chains: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    for head in conn.execute(stmt).mappings().all():
        exported = _export_chain(conn, key, head, period, now)
        if exported is None:
            continue
        chain, lines, chain_points = exported
        files[chain["file"]] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        chains.append(chain)
        points.extend(chain_points)
    files[offline.CHECKPOINTS] = "".join(json.dumps(p) + "\n" for p in points).encode()
    files["verify_bundle.py"] = Path(offline.__file__).read_bytes()
    manifest = {
        "format": FORMAT,
        "bank_id": bank_id,
        "tenant_id": tenant_id,
        "from": canonical.utc(period.start).isoformat(),
        "to": canonical.utc(period.end).isoformat(),
        "created_at": canonical.utc(now).isoformat(),
        "key_id": key.key_id,
        "chains": chains,
        "files": {name: canonical.sha256(data) for name, data in sorted(files.items())},
    }
    manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(offline.MANIFEST, manifest_bytes)
        archive.writestr(offline.SIGNATURE, key.sign(manifest_bytes))
        archive.writestr(offline.PUBLIC_KEY, key.public_pem)
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def _export_chain(
    conn: Connection, key: AuditKey, head: RowMapping, period: Period, now: dt.datetime
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None:
    """One chain's part of the bundle: its summary, its lines, its checkpoints."""
    name = head["chain"]
    in_period = (
        _LINKS.c.chain == name,
        _LINKS.c.record_at >= period.start,
        _LINKS.c.record_at < period.end,
    )
    first, last = conn.execute(
        select(func.min(_LINKS.c.seq), func.max(_LINKS.c.seq)).where(*in_period)
    ).one()
    if first is None:
        return None
    points = [
        _point_line(p)
        for p in conn.execute(
            select(_CHECKPOINTS)
            .where(_CHECKPOINTS.c.chain == name, _CHECKPOINTS.c.seq >= first)
            .order_by(_CHECKPOINTS.c.seq)
        ).mappings()
    ]
    closing = next((p for p in points if p["seq"] >= last), None)
    if closing is None:
        closing = _sign_head(key, head, now)
        points.append(closing)
    end = closing["seq"]
    points = [p for p in points if p["seq"] <= end]
    lines = list(_lines(conn, name, first, end, period))
    summary = {
        "chain": name,
        "file": f"chains/{name.replace(':', '_')}.jsonl",
        "first_seq": first,
        "last_seq": end,
        "start_prev_hash": lines[0]["link"]["prev"],
    }
    return summary, lines, points


def _lines(
    conn: Connection, chain: str, first: int, last: int, period: Period
) -> Iterator[dict[str, Any]]:
    """The links of `chain` from `first` to `last`, with their records inside the period."""
    after = first - 1
    while after < last:
        page = list(
            conn.execute(
                select(_LINKS)
                .where(_LINKS.c.chain == chain, _LINKS.c.seq > after, _LINKS.c.seq <= last)
                .order_by(_LINKS.c.seq)
                .limit(_PAGE)
            ).mappings()
        )
        if not page:
            return
        inside = [link for link in page if period.start <= link["record_at"] < period.end]
        records = records_of(conn, inside)
        for link in page:
            yield _line(link, records.get((link["record_table"], link["record_id"])), period)
        after = page[-1]["seq"]


def _line(
    link: RowMapping, found: tuple[RowMapping, list[RowMapping]] | None, period: Period
) -> dict[str, Any]:
    table, record_id = link["record_table"], link["record_id"]
    line: dict[str, Any] = {
        "link": {
            "chain": link["chain"],
            "seq": link["seq"],
            "table": table,
            "id": record_id,
            "at": canonical.plain(link["record_at"]),
            "digest": link["digest"],
            "personal": link["personal_digest"],
            "prev": link["prev_hash"],
            "hash": link["hash"],
        },
        "record": None,
        "personal": None,
        "salt": None,
    }
    if found is not None:
        row, entries = found
        line["record"] = canonical.record_content(table, record_id, row, entries)
        line["personal"] = canonical.personal_content(table, row)
        line["salt"] = link["salt"]
    return line


def _point_line(point: RowMapping) -> dict[str, Any]:
    return {
        "chain": point["chain"],
        "seq": point["seq"],
        "head_hash": point["head_hash"],
        "at": canonical.plain(point["at"]),
        "key_id": point["key_id"],
        "signature": point["signature"],
    }


def _sign_head(key: AuditKey, head: RowMapping, now: dt.datetime) -> dict[str, Any]:
    """A checkpoint of the chain's head as read now, signed for this bundle (not stored)."""
    message = canonical.checkpoint_message(
        head["chain"], head["seq"], head["head_hash"], now, key.key_id
    )
    return {
        "chain": head["chain"],
        "seq": head["seq"],
        "head_hash": head["head_hash"],
        "at": canonical.plain(now),
        "key_id": key.key_id,
        "signature": key.sign(message),
    }
