"""Replays of disjoint sets of tenants, each under its own policy (a version with one
extension or none: core.policy_versions.rollout), as one impact. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from core.policy.replay import Impact, ImpactChange

_ChangeKey = tuple[str, str, str, str, str]


def combined(parts: Sequence[Impact], samples: int = 5) -> Impact:
    """Replays of disjoint sets of tenants (each under its own policy: a version with one
    extension or none) as one impact: counts summed, changes merged, tenants side by side."""
    first = parts[0]
    merged: dict[_ChangeKey, ImpactChange] = {}
    for part in parts:
        for change in part.changes:
            key = (
                change.action,
                change.from_decision,
                change.from_reason,
                change.to_decision,
                change.to_reason,
            )
            if key in merged:
                held = merged[key]
                held.count += change.count
                ids = sorted({*held.sample_decision_ids, *change.sample_decision_ids})
                held.sample_decision_ids = ids[::-1][:samples]
            else:
                merged[key] = change.model_copy()
    total = {name: sum(getattr(p, name) for p in parts) for name in _COUNTS}
    return first.model_copy(
        update={
            **total,
            "truncated": any(p.truncated for p in parts),
            "changes": sorted(
                merged.values(), key=lambda c: (-c.count, c.action, c.from_reason, c.to_reason)
            ),
            "elapsed_seconds": round(sum(p.elapsed_seconds for p in parts), 3),
            "tenant_ids": sorted({t for p in parts for t in (p.tenant_ids or [])}),
            "tenants": sorted((t for p in parts for t in p.tenants), key=lambda t: t.tenant_id),
        }
    )


_COUNTS = (
    "considered",
    "replayed",
    "not_replayable",
    "unchanged",
    "allow_to_deny",
    "deny_to_allow",
    "reason_changed",
    "unanswered",
)
