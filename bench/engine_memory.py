"""What one more policy in use costs a process: an engine per (version, extension), each with
its Oso and its compiled-decision cache (core.policy.registry holds up to 8 besides the
default).

Two figures:
  built      resident memory (RSS) per engine just built: the Oso with the policy loaded
             (bundled files and Acme's extension)
  per entry  Python memory (tracemalloc) per compiled decision in the cache: a transfer
             decided for a payer whose limit differs each time (a new static fact, a new
             entry); times the cache's 20,000 entries, what a full cache adds

    .venv/bin/python -m bench.engine_memory [--engines 8] [--entries 300]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc
from typing import Any

from core.policy.engine import Dynamic, PolicyEngine, PolicyFile, files_of
from core.settings import REPO_ROOT

FRIDAY_RULE = """tenant_refuses(request, "tenant_rule:new_beneficiary_friday",
               "No payments on a Friday to a beneficiary added less than 7 days ago.") if
    request.action = "payment.create" and
    request.local_time.weekday = 4 and
    request.beneficiary.age_days < 7;
"""
CACHE_SIZE = 20_000


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def transfer(limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A payer's transfer, the grant's per-transfer limit `limit` (a static fact)."""
    nothing = {"set": False}
    grant = {
        "id": 1,
        "level": "tenant",
        "tenant": 1,
        "bank": 1,
        "role": {
            "key": "payer",
            "builtin": True,
            "level": "tenant",
            "permissions": [],
            "limit_currency": nothing,
        },
        "limit_currency": {"set": True, "currency": "EUR"},
        "valid_from": nothing,
        "valid_until": nothing,
        "window": nothing,
        "approval": {"group": nothing, "limit": nothing, "daily_limit": nothing},
        "caps": {
            "per_transfer": [{"kind": "per_transfer", "level": "grant", "amount": limit}],
            "daily": [],
            "monthly": [],
        },
        **{name: Dynamic(f"g0.{name}") for name in ("weekday", "minute", "day_total")},
        "month_total": Dynamic("g0.month_total"),
    }
    request = {
        "action": "transfer.create",
        "actor": {"id": 7, "kind": "customer", "tenant": 1, "bank": 1},
        "resource": {"type": "account", "level": "tenant", "tenant": 1, "bank": 1},
        "now": Dynamic("now"),
        "currency": "EUR",
        "amount": Dynamic("amount"),
        "person": {
            "day_total": Dynamic("person.day_total"),
            "month_total": Dynamic("person.month_total"),
        },
        "counterparty": {"kind": "customer", "level": "tenant", "tenant": 1, "bank": 1},
        "local_time": {"weekday": Dynamic("local.weekday"), "minute": Dynamic("local.minute")},
        "grants": [grant],
    }
    values = {
        "now": 1_795_000_000,
        "amount": 100,
        "person.day_total": 100,
        "person.month_total": 100,
        "g0.weekday": 2,
        "g0.minute": 600,
        "g0.day_total": 100,
        "g0.month_total": 100,
        "local.weekday": 2,
        "local.minute": 600,
    }
    return request, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", type=int, default=8)
    parser.add_argument("--entries", type=int, default=300)
    args = parser.parse_args()
    files = files_of(REPO_ROOT / "policies")
    extension = [PolicyFile("acme.polar", FRIDAY_RULE)]
    held = [PolicyEngine(files, extension=extension)]
    gc.collect()
    before = rss()
    started = time.perf_counter()
    held += [PolicyEngine(files, extension=extension) for _ in range(args.engines)]
    build_ms = (time.perf_counter() - started) * 1000 / args.engines
    gc.collect()
    built = (rss() - before) / args.engines
    engine = held[-1]
    tracemalloc.start()
    first = tracemalloc.take_snapshot()
    started = time.perf_counter()
    for limit in range(1, args.entries + 1):
        request, values = transfer(1_000 + limit)
        assert engine.decide(request, values).allowed
    compile_ms = (time.perf_counter() - started) * 1000 / args.entries
    gc.collect()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(first, "filename"))
    tracemalloc.stop()
    per_entry = grown / args.entries
    print(
        f"engine built: {built / 1e6:.1f} MB RSS each ({args.engines} built, {build_ms:.1f} ms "
        f"each); compiled decision: {per_entry / 1e3:.1f} KB each ({args.entries} compiled, "
        f"{compile_ms:.0f} ms each); a full cache of {CACHE_SIZE:,}: "
        f"{per_entry * CACHE_SIZE / 1e6:.0f} MB; an engine at most "
        f"{(built + per_entry * CACHE_SIZE) / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    main()
