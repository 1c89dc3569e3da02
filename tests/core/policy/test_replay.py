"""Replaying the decision log (core.policy.replay): a realistic day of decisions made through
the API, then replayed under the same policy (nothing flips, every reason comes back) and
under tightened ones (the counts equal deciding every logged request directly, and exactly
the expected decisions flip), and under widened ones (a role that carries more: its holders'
refusals turn to allow, as deciding them live under that policy does). The facts kept carry
no personal data and no other tenant's."""

from __future__ import annotations

import datetime as dt
import marshal
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import RequestContext
from core.db import Database
from core.models.audit import ChangeRecord, DecisionRecord
from core.models.iam import Grant, Role, RolePermission, User
from core.policy import engine as policy_engine
from core.policy import recorded, replay
from core.policy.engine import Dynamic, PolicyEngine
from core.policy.replay import Impact, impact
from core.settings import REPO_ROOT
from tests.core.policy.strategies import approval_requests, requests, values_for
from tests.factories import bearer, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, build_payments_world

WEEK = dt.timedelta(days=7)


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _a_day_of_decisions(client, app, pw: PaymentsWorld, clock) -> None:  # type: ignore[no-untyped-def]
    """Allowed and refused transfers (limits, a window), payments and approvals, admin
    actions, the bookkeeper's reads, other-tenant 404s: each through the API."""
    world = pw.world
    users = world.users

    def who(username: str) -> dict[str, str]:
        return bearer(app, users[username], clock)

    def transfer(username: str, amount: int, source: str = "acme-operating") -> int:
        body = {
            "from_account_id": world.account_id(source),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": amount,
            "currency": "EUR",
        }
        headers = {**who(username), "Idempotency-Key": new_key()}
        return client.post("/v1/transfers", json=body, headers=headers).status_code

    admin = who("acme-admin")
    limited = client.patch(
        f"/v1/grants/{world.grants['acme-payer'].id}",
        json={
            "limits": {"currency": "EUR", "per_transfer": 100_000_00, "daily": 150_000_00},
            "window": {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "start": "08:00",
                "end": "18:00",
                "time_zone": "Europe/Berlin",
            },
        },
        headers=admin,
    )
    assert limited.status_code == 200, limited.text
    assert transfer("acme-payer", 500_00) == 201
    assert transfer("acme-payer", 150_000_00) == 403  # per transfer
    assert transfer("acme-payer", 90_000_00) == 201
    assert transfer("acme-payer", 70_000_00) == 403  # daily
    assert transfer("acme-bookkeeper", 10_00) == 403  # moves no money
    assert transfer("globex-payer", 10_00) == 404  # another company's account

    payer = who("acme-payer")
    pay = {
        "account_id": world.account_id("acme-operating"),
        "amount": 500_00,
        "currency": "EUR",
        "reference": "Invoice 42 for Lieferant",
    }
    sent = client.post(
        "/v1/payments",
        json={**pay, "beneficiary_id": pw.beneficiary_id("supplier")},
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert sent.status_code == 201, sent.text
    waiting = client.post(
        "/v1/payments",
        json={**pay, "amount": 20_000_00, "beneficiary_id": pw.beneficiary_id("globex")},
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert waiting.status_code == 202, waiting.text
    approve = f"/v1/payments/{waiting.json()['id']}/approve"
    own = client.post(approve, headers={**payer, "Idempotency-Key": new_key()})
    assert own.status_code == 403
    approved = client.post(
        approve, headers={**who("acme-approver-b"), "Idempotency-Key": new_key()}
    )
    assert approved.status_code == 201, approved.text

    bookkeeper = who("acme-bookkeeper")
    for name in ("acme-operating", "acme-payroll", "acme-usd"):
        account_id = world.account_id(name)
        assert client.get(f"/v1/accounts/{account_id}", headers=bookkeeper).status_code == 200
        entries = client.get(f"/v1/accounts/{account_id}/entries", headers=bookkeeper)
        assert entries.status_code == 200
    # A list is not logged item by item.
    assert client.get("/v1/accounts", headers=bookkeeper).status_code == 200

    globex = who("globex-admin")
    acme_account = world.account_id("acme-operating")
    assert client.get(f"/v1/accounts/{acme_account}", headers=globex).status_code == 404
    assert client.get(f"/v1/accounts/{acme_account}/entries", headers=globex).status_code == 404

    created = client.post(
        "/v1/users",
        json={"username": "acme-clerk", "display_name": "Clara Clerk", "password": "x" * 16},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    deposit = client.post(
        "/v1/deposits",
        json={"account_id": acme_account, "amount": 1_000_00, "currency": "EUR"},
        headers={**who("manager"), "Idempotency-Key": new_key()},
    )
    assert deposit.status_code == 201, deposit.text

    clock.advance(hours=10)  # 20:00 in Berlin: outside the payer's window
    assert transfer("acme-payer", 100_00) == 403


def _read(db: Database, clock, work: Any) -> Any:  # type: ignore[no-untyped-def]
    def run(session: Session, _ctx: RequestContext) -> Any:
        return work(session)

    return unit_of_work(db, clock, write=False).run(run)


def _logged(db: Database, clock) -> list[DecisionRecord]:  # type: ignore[no-untyped-def]
    def rows(session: Session) -> list[DecisionRecord]:
        found = session.scalars(select(DecisionRecord).order_by(col(DecisionRecord.id)))
        return list(found)

    return list(_read(db, clock, rows))


def _impact(db: Database, clock, engine: PolicyEngine, **scope: Any) -> Impact:  # type: ignore[no-untyped-def]
    now = clock.now()
    return _read(  # type: ignore[no-any-return]
        db, clock, lambda s: impact(s, engine, since=now - WEEK, until=now + WEEK, **scope)
    )


def _tightened(tmp_path: Path, role: str, permission: str) -> PolicyEngine:
    """The bundled policy, with `permission` taken from the built-in `role`."""
    folder = tmp_path / f"policies-{role}"
    shutil.copytree(REPO_ROOT / "policies", folder)
    vocabulary = folder / "vocabulary.polar"
    text = vocabulary.read_text()
    start = text.index(f'builtin_carries("{role}", permission) if permission in [')
    end = text.index("];", start)
    rule = text[start:end]
    assert f'"{permission}", ' in rule
    vocabulary.write_text(text[:start] + rule.replace(f'"{permission}", ', "") + text[end:])
    engine = PolicyEngine.from_dir(folder)
    assert engine.version != policy_engine.current().version
    return engine


def _widened(tmp_path: Path, name: str, rule: str) -> PolicyEngine:
    """The bundled policy, with one more carries/2 rule."""
    folder = tmp_path / f"policies-{name}"
    shutil.copytree(REPO_ROOT / "policies", folder)
    vocabulary = folder / "vocabulary.polar"
    vocabulary.write_text(vocabulary.read_text() + "\n" + rule + "\n")
    engine = PolicyEngine.from_dir(folder)
    assert engine.version != policy_engine.current().version
    return engine


def _bookkeeper_transfers(client, app, pw: PaymentsWorld, clock) -> int:  # type: ignore[no-untyped-def]
    """A bookkeeper's transfer, through the API: its status."""
    world = pw.world
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 10_00,
        "currency": "EUR",
    }
    headers = {**bearer(app, world.users["acme-bookkeeper"], clock), "Idempotency-Key": new_key()}
    return client.post("/v1/transfers", json=body, headers=headers).status_code


def _live(engine: PolicyEngine, work: Any) -> Any:
    """`work()` with `engine` the policy in force, then the bundled one again."""
    before = policy_engine.current()
    policy_engine.install(engine)
    try:
        return work()
    finally:
        policy_engine.install(before)


def _directly(engine: PolicyEngine, rows: list[DecisionRecord]) -> dict[str, Any]:
    """What impact should say, from deciding each logged request directly (no compiling)."""
    counts = {"allow_to_deny": 0, "deny_to_allow": 0, "reason_changed": 0, "unchanged": 0}
    groups: dict[tuple[str, str, str, str, str], list[int]] = {}
    for row in rows:
        if row.facts is None or row.fact_values is None:
            continue
        request, values = recorded.decode(row.facts, row.fact_values)
        now = engine.decide_direct(request, values)
        if (now.outcome, now.reason) == (row.decision, row.reason):
            counts["unchanged"] += 1
            continue
        if now.outcome == row.decision:
            counts["reason_changed"] += 1
        else:
            counts["allow_to_deny" if now.outcome == "deny" else "deny_to_allow"] += 1
        key = (row.action, row.decision, row.reason, now.outcome, now.reason)
        groups.setdefault(key, []).append(row.id)  # type: ignore[arg-type]
    return {**counts, "groups": groups}


def _as_reported(report: Impact) -> dict[str, Any]:
    return {
        "allow_to_deny": report.allow_to_deny,
        "deny_to_allow": report.deny_to_allow,
        "reason_changed": report.reason_changed,
        "unchanged": report.unchanged,
        "groups": {
            (c.action, c.from_decision, c.from_reason, c.to_decision, c.to_reason): c.count
            for c in report.changes
        },
    }


def _expected(direct: dict[str, Any]) -> dict[str, Any]:
    return {**direct, "groups": {key: len(ids) for key, ids in direct["groups"].items()}}


def test_replaying_the_log_under_its_own_policy_flips_nothing(
    client, app, pw, db, clock, monkeypatch
):
    _a_day_of_decisions(client, app, pw, clock)
    rows = _logged(db, clock)
    reasons = {(r.action, r.decision, r.reason) for r in rows}
    # The mix is what the test says it is.
    for expected in (
        ("transfer.create", "allow", "ok"),
        ("transfer.create", "deny", "limit_per_transfer"),
        ("transfer.create", "deny", "limit_daily"),
        ("transfer.create", "deny", "outside_time_window"),
        ("transfer.create", "deny", "missing_permission"),
        ("payment.create", "allow", "ok"),
        ("payment.approve", "allow", "ok"),
        ("payment.approve", "deny", "missing_permission"),
        ("account.read", "allow", "ok"),
        ("statement.read", "allow", "ok"),
        ("account.read", "deny", "not_found"),
        ("user.manage", "allow", "ok"),
        ("grant.manage", "allow", "ok"),
        ("deposit.create", "allow", "ok"),
    ):
        assert expected in reasons, expected
    assert all(r.facts is not None and r.fact_values is not None for r in rows)

    engine = policy_engine.current()
    report = _impact(db, clock, engine)
    assert report.considered == report.replayed == report.unchanged == len(rows)
    for strategy in STRATEGIES.values():
        with monkeypatch.context() as patched:
            for name, value in strategy.items():
                patched.setattr(replay, name, value)
            assert _impact(db, clock, engine).unchanged == len(rows), strategy
    assert report.allow_to_deny == report.deny_to_allow == report.reason_changed == 0
    assert report.not_replayable == report.unanswered == 0
    assert report.changes == [] and report.truncated is False
    assert report.policy_version == engine.version
    # Each logged decision comes back, reason and grant, from its facts alone, directly too.
    for row in rows:
        request, values = recorded.decode(row.facts, row.fact_values)  # type: ignore[arg-type]
        for again in (engine.decide(request, values), engine.decide_direct(request, values)):
            assert (again.outcome, again.reason, again.grant_id) == (
                row.decision,
                row.reason,
                row.grant_id,
            ), row.action


# The three ways a replay decides a group of requests with the same static facts: together
# (one lazy partial evaluation), one by one directly, or by the cached compiled program.
STRATEGIES = {
    "together": {"GROUP_AT": 1},
    "directly": {"GROUP_AT": 10**9},
    "compiled": {"CHUNK": 1},
}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_a_tightened_policy_flips_exactly_what_deciding_again_flips(
    client, app, pw, db, clock, tmp_path, monkeypatch, strategy
):
    for name, value in STRATEGIES[strategy].items():
        monkeypatch.setattr(replay, name, value)
    _a_day_of_decisions(client, app, pw, clock)
    rows = _logged(db, clock)
    bookkeeper = pw.world.user_id("acme-bookkeeper")

    no_statements = _tightened(tmp_path, "bookkeeper", "statement.read")
    report = _impact(db, clock, no_statements)
    direct = _directly(no_statements, rows)
    assert _as_reported(report) == _expected(direct)
    # The bookkeeper's three statement reads, and nothing else.
    reads = [
        r.id
        for r in rows
        if r.actor_id == bookkeeper and r.action == "statement.read" and r.decision == "allow"
    ]
    assert len(reads) == 3
    assert report.allow_to_deny == 3 and report.deny_to_allow == report.reason_changed == 0
    (change,) = report.changes
    assert (change.action, change.from_reason, change.to_decision, change.to_reason) == (
        "statement.read",
        "ok",
        "deny",
        "missing_permission",
    )
    assert change.count == 3
    assert sorted(change.sample_decision_ids) == sorted(reads)
    assert change.sample_decision_ids == sorted(reads, reverse=True)  # newest first

    # Without transfer.create, payers' transfers all flip or change reason.
    no_transfers = _tightened(tmp_path, "payer", "transfer.create")
    report = _impact(db, clock, no_transfers, samples=1)
    direct = _directly(no_transfers, rows)
    assert _as_reported(report) == _expected(direct)
    assert report.allow_to_deny == 2  # the two transfers that went through
    assert report.reason_changed == 3  # refused by limits and the window: now by permission
    for change in report.changes:
        ids = direct["groups"][
            (
                change.action,
                change.from_decision,
                change.from_reason,
                change.to_decision,
                change.to_reason,
            )
        ]
        assert len(change.sample_decision_ids) == 1
        assert change.sample_decision_ids[0] == max(ids)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_a_widened_policy_turns_the_new_holders_refusals_to_allow(
    client, app, pw, db, clock, tmp_path, monkeypatch, strategy
):
    """The facts logged keep the grants whose role did not carry the action: a proposal that
    gives the bookkeeper transfer.create shows the bookkeeper's refused transfers allowed,
    through the grant that would allow them live."""
    for name, value in STRATEGIES[strategy].items():
        monkeypatch.setattr(replay, name, value)
    _a_day_of_decisions(client, app, pw, clock)
    assert _bookkeeper_transfers(client, app, pw, clock) == 403
    rows = _logged(db, clock)
    bookkeeper = pw.world.user_id("acme-bookkeeper")
    refused = [r for r in rows if r.actor_id == bookkeeper and r.action == "transfer.create"]
    assert len(refused) == 2 and {r.reason for r in refused} == {"missing_permission"}

    paying = _widened(
        tmp_path,
        "bookkeeper-pays",
        'carries(grant, "transfer.create") if\n'
        '    grant.role.builtin = true and grant.role.key = "bookkeeper";',
    )
    report = _impact(db, clock, paying)
    assert _as_reported(report) == _expected(_directly(paying, rows))
    (change,) = report.changes
    assert (change.action, change.from_reason, change.to_decision, change.to_reason) == (
        "transfer.create",
        "missing_permission",
        "allow",
        "ok",
    )
    assert report.deny_to_allow == change.count == 2
    assert sorted(change.sample_decision_ids) == sorted(r.id for r in refused)  # type: ignore[type-var]
    # What the replay decides is what the policy decides live: the same transfer goes through,
    # by the bookkeeper's grant.
    assert _live(paying, lambda: _bookkeeper_transfers(client, app, pw, clock)) == 201
    newest = _logged(db, clock)[-1]
    assert (newest.actor_id, newest.decision) == (bookkeeper, "allow")
    assert newest.grant_id == pw.world.grants["acme-bookkeeper"].id
    for row in refused:
        request, values = recorded.decode(row.facts, row.fact_values)  # type: ignore[arg-type]
        again = paying.decide(replay.carried(paying, request), values)
        assert (again.outcome, again.grant_id) == ("allow", newest.grant_id)


def test_a_custom_role_that_carries_more_turns_its_holders_refusals_to_allow(
    client, app, pw, db, clock, tmp_path
):
    """A custom role held beside a built-in one, neither carrying transfer.create: a policy
    that lets that custom role carry it allows the holder's logged refusals, by its grant."""
    world = pw.world
    bookkeeper = world.users["acme-bookkeeper"]

    def custom_grant(session: Session, _ctx: RequestContext) -> tuple[int, int]:
        role = Role(
            bank_id=world.bank.id,
            tenant_id=world.tenants["acme"].id,
            key="statement-reader",
            name="Statement reader",
            builtin=False,
        )
        session.add(role)
        session.flush()
        for permission in ("account.read", "statement.read"):
            session.add(RolePermission(role_id=role.id, permission=permission))  # type: ignore[arg-type]
        grant = Grant(
            user_id=bookkeeper.id,  # type: ignore[arg-type]
            role_id=role.id,  # type: ignore[arg-type]
            bank_id=bookkeeper.bank_id,
            tenant_id=bookkeeper.tenant_id,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(grant)
        session.flush()
        return role.id, grant.id  # type: ignore[return-value]

    role_id, grant_id = unit_of_work(db, clock).run(custom_grant)
    _a_day_of_decisions(client, app, pw, clock)
    rows = _logged(db, clock)
    refused = [r for r in rows if r.actor_id == bookkeeper.id and r.action == "transfer.create"]
    assert [r.reason for r in refused] == ["missing_permission"]
    # Under the policy of the day nothing flips, the custom grant recorded or not.
    assert _impact(db, clock, policy_engine.current()).unchanged == len(rows)

    paying = _widened(
        tmp_path,
        "custom-pays",
        'carries(grant, "transfer.create") if\n'
        f'    grant.role.builtin = false and grant.role.key = "custom:{role_id}";',
    )
    report = _impact(db, clock, paying)
    assert _as_reported(report) == _expected(_directly(paying, rows))
    (change,) = report.changes
    assert (change.action, change.from_reason, change.to_decision) == (
        "transfer.create",
        "missing_permission",
        "allow",
    )
    assert report.deny_to_allow == 1 and change.sample_decision_ids == [refused[0].id]
    assert _live(paying, lambda: _bookkeeper_transfers(client, app, pw, clock)) == 201
    assert _logged(db, clock)[-1].grant_id == grant_id


def test_a_replay_writes_nothing_and_counts_what_it_cannot_replay(client, app, pw, db, clock):
    _a_day_of_decisions(client, app, pw, clock)
    world = pw.world

    # A decision logged before the log kept facts.
    def old_decision(session: Session, _ctx: RequestContext) -> None:
        session.add(
            DecisionRecord(
                at=clock.now(),
                actor_id=world.user_id("acme-payer"),
                bank_id=world.bank.id,
                tenant_id=world.tenants["acme"].id,
                action="transfer.create",
                resource_type="account",
                decision="allow",
                reason="ok",
                policy_version="0" * 16,
                eval_us=10,
            )
        )

    unit_of_work(db, clock).run(old_decision)

    def count(session: Session) -> tuple[int, int]:
        decisions = session.scalar(select(func.count()).select_from(DecisionRecord))
        changes = session.scalar(select(func.count()).select_from(ChangeRecord))
        return int(decisions or 0), int(changes or 0)

    before = _read(db, clock, count)
    report = _impact(db, clock, policy_engine.current())
    assert _read(db, clock, count) == before
    assert report.not_replayable == 1
    assert report.considered == before[0] and report.replayed == before[0] - 1

    # Bounded: the newest `limit`, and it says there were more.
    newest = _impact(db, clock, policy_engine.current(), limit=3)
    assert newest.considered == 3 and newest.truncated
    assert newest.not_replayable == 1 and newest.replayed == 2

    # The window: nothing logged a week before.
    now = clock.now()
    empty = _read(
        db,
        clock,
        lambda s: impact(s, policy_engine.current(), since=now - 2 * WEEK, until=now - WEEK),
    )
    assert empty.considered == 0 and empty.changes == []


def test_a_tenants_impact_considers_only_its_decisions(client, app, pw, db, clock, tmp_path):
    _a_day_of_decisions(client, app, pw, clock)
    rows = _logged(db, clock)
    globex = pw.world.tenants["globex"].id
    acme = pw.world.tenants["acme"].id
    no_statements = _tightened(tmp_path, "bookkeeper", "statement.read")

    theirs = _impact(db, clock, no_statements, tenant_id=globex)
    assert theirs.considered == sum(1 for r in rows if r.tenant_id == globex)
    assert theirs.changes == []  # acme's bookkeeper's reads are acme's
    ours = _impact(db, clock, no_statements, tenant_id=acme)
    assert ours.considered == sum(1 for r in rows if r.tenant_id == acme)
    by_id = {r.id: r for r in rows}
    assert all(by_id[i].tenant_id == acme for c in ours.changes for i in c.sample_decision_ids)
    other_bank = _impact(db, clock, no_statements, bank_id=pw.world.bank.id + 1)  # type: ignore[operator]
    assert other_bank.considered == 0


def test_the_facts_kept_hold_no_personal_data(client, app, pw, db, clock):
    _a_day_of_decisions(client, app, pw, clock)
    rows = _logged(db, clock)

    def people(session: Session) -> list[tuple[str, str, str]]:
        found = session.execute(
            select(col(User.username), col(User.display_name), col(User.password_hash))
        )
        return [(r.username, r.display_name, r.password_hash) for r in found]

    persons = _read(db, clock, people)
    # Anywhere in the text: what no code, kind or key could contain by chance.
    written = [name for _, name, _ in persons] + [hashed for _, _, hashed in persons]
    written += [
        "x" * 16,  # acme-clerk's password
        "Invoice 42",
        "Lieferant",
        "Acme Ltd",
        "Globex GmbH",
        pw.world.accounts["acme-operating"].iban,
    ]
    # As a value: usernames ("manager" is also part of the role key "bank_manager").
    usernames = {username for username, _, _ in persons} | {"acme-operating"}
    for row in rows:
        kept = f"{row.facts}{row.fact_values}"
        for secret in written:
            assert secret not in kept, (row.action, secret)
        request, values = recorded.decode(row.facts, row.fact_values)  # type: ignore[arg-type]
        assert not usernames & set(_strings(request)), row.action
        assert all(isinstance(v, int) for v in values.values())
        # The actor is ids and a kind, nothing more, and for step-up how and how long ago it
        # signed in (methods such as "otp", an age in seconds).
        assert set(request["actor"]) <= {
            "id",
            "kind",
            "bank",
            "tenant",
            "authentication",
            "scoped",
            "scopes",
        }
        authentication = request["actor"].get("authentication") or {}
        assert set(authentication) <= {"set", "methods", "age"}, authentication
    sizes = [len(r.facts or "") + len(r.fact_values or "") for r in rows]
    assert max(sizes) < 4_000


def _strings(facts: Any) -> list[str]:
    if isinstance(facts, str):
        return [facts]
    if isinstance(facts, dict):
        return [s for key, value in facts.items() for s in [key, *_strings(value)]]
    if isinstance(facts, list):
        return [s for value in facts for s in _strings(value)]
    return []


def test_the_facts_survive_json_with_every_type_polar_reads():
    request = {
        "action": "transfer.create",
        "now": Dynamic("now"),
        "amount": Dynamic("amount"),
        "actor": {"id": 7, "kind": "customer", "bank": 1, "tenant": 2},
        "grants": [
            {
                "id": 3,
                "role": {"key": "custom:12", "builtin": False, "permissions": ["account.read"]},
                "window": {
                    "set": True,
                    "days": [0, 1, 2],
                    "start": "09:00",
                    "zone": "Europe/Berlin",
                },
                "valid_until": {"set": False},
                "ratio": 0.5,
                "nothing": None,
                "weekday": Dynamic("g0.weekday"),
            }
        ],
        "payment": {"prepared_by_actor": False, "still_needed": 1},
        "zone": "Amérique/Zürich",
    }
    values = {"now": 1_764_061_200, "amount": 10**15, "g0.weekday": 2}
    request_text, values_text = recorded.encode(request, values)
    assert "\x00" not in request_text  # a PostgreSQL text column refuses a raw NUL
    again, values_again = recorded.decode(request_text, values_text)
    # marshal tells True from 1, 1.0 from 1 and lists from tuples: byte-equal is type-equal
    # (version 0: without the marks for shared and interned objects, which JSON cannot keep).
    assert marshal.dumps(again, 0) == marshal.dumps(request, 0)
    assert marshal.dumps(values_again, 0) == marshal.dumps(values, 0)
    assert marshal.dumps({"a": 1}, 0) != marshal.dumps({"a": True}, 0)
    assert again["now"].startswith("\x00dynamic:")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_deciding_many_requests_at_once_is_deciding_each_directly(data):
    """PolicyEngine.decide_each (a replay's groups of logged requests with the same static
    facts) answers, request by request, what Polar answers evaluating each directly."""
    engine = policy_engine.current()
    request = data.draw(st.one_of(requests(), approval_requests()))
    values = [data.draw(values_for(request)) for _ in range(data.draw(st.integers(1, 6)))]
    for decision, each in zip(engine.decide_each(request, values), values, strict=True):
        direct = engine.decide_direct(request, each)
        assert decision is not None
        assert (decision.allowed, decision.reason, decision.grant_id, dict(decision.detail)) == (
            direct.allowed,
            direct.reason,
            direct.grant_id,
            dict(direct.detail),
        ), (request, each)


def test_logged_reads_beside_concurrent_transfers_all_answer(db, world, clock):
    """A read that logs its decision writes a row: on SQLite that must not turn the read into
    a writer that loses to concurrent transfers (a read transaction's snapshot is too old to
    write once another transaction committed). Every read answers, and each is logged."""
    from concurrent.futures import ThreadPoolExecutor

    from core.ledger import service as ledger
    from core.ledger.schemas import TransferCreate
    from core.models.iam import actor_of
    from core.uow import UnitOfWork

    payer, bookkeeper = (actor_of(world.users[u]) for u in ("acme-payer", "acme-bookkeeper"))
    source, target = world.account_id("acme-operating"), world.account_id("acme-payroll")

    def pay(i: int) -> None:
        body = TransferCreate(
            from_account_id=source, to_account_id=target, amount=1, currency="EUR"
        )
        UnitOfWork(db, RequestContext(actor=payer, clock=clock)).run(
            ledger.create_transfer, body, f"concurrent-{i}"
        )

    def read(_i: int) -> None:
        work = UnitOfWork(db, RequestContext(actor=bookkeeper, clock=clock), write=False)
        work.run(ledger.statement, source, limit=5)

    with ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(pay if i % 2 else read, i) for i in range(80)]
        for job in jobs:
            job.result()
    logged = [
        r
        for r in _logged(db, clock)
        if r.action == "statement.read" and r.actor_id == world.user_id("acme-bookkeeper")
    ]
    assert len(logged) == 40
