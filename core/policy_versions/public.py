"""A stored version as the API and the console show it: pure shaping, and the names of the
people it mentions."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.models.policy_versions import PolicyVersion
from core.policy.tenant_rules import rules_of
from core.policy_versions import repository as repo
from core.policy_versions.schemas import (
    PolicyVersionPublic,
    PolicyVersionSummary,
    TenantRulePublic,
)


def names_of(session: Session, rows: list[PolicyVersion]) -> dict[int, str]:
    return repo.usernames(
        session,
        [i for r in rows for i in (r.author_id, r.approved_by_id, r.activated_by_id)],
    )


def summary_of(row: PolicyVersion, names: dict[int, str]) -> PolicyVersionSummary:
    assert row.id is not None
    return PolicyVersionSummary(
        id=row.id,
        hash=row.hash,
        status=row.status,
        origin=row.origin,
        note=row.note,
        author_id=row.author_id,
        author=names.get(row.author_id) if row.author_id else None,
        created_at=row.created_at,
        approved_by_id=row.approved_by_id,
        approved_by=names.get(row.approved_by_id) if row.approved_by_id else None,
        approved_at=row.approved_at,
        rejected_by_id=row.rejected_by_id,
        rejected_at=row.rejected_at,
        rejection_reason=row.rejection_reason,
        activated_by_id=row.activated_by_id,
        activated_by=names.get(row.activated_by_id) if row.activated_by_id else None,
        activated_at=row.activated_at,
        retired_at=row.retired_at,
        was_active=row.activated_at is not None and row.status != "active",
        files=sorted(row.files),
        tenant_id=row.tenant_id,
    )


def public_of(row: PolicyVersion, names: dict[int, str]) -> PolicyVersionPublic:
    return PolicyVersionPublic(
        **summary_of(row, names).model_dump(),
        file_texts=dict(row.files),
        cases=dict(row.cases or {}),
        validation=dict(row.validation or {}),
        rules=rules_in_words(row),
    )


def rules_in_words(row: PolicyVersion) -> list[TenantRulePublic]:
    """An extension's rules, each reason once with its sentence, in the files' order (none
    for a platform version)."""
    if row.tenant_id is None:
        return []
    said: dict[str, str] = {}
    for name in sorted(row.files):
        for rule in rules_of(str(row.files[name])):
            said.setdefault(rule.reason, rule.text)
    return [TenantRulePublic(reason=reason, text=text) for reason, text in said.items()]
