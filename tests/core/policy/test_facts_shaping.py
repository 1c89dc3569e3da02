"""The facts the policy reads, shaped from plain rows: no database here (core.policy.shaping).
Table-driven; Hypothesis where a property says more than a few rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.context import Actor
from core.models.iam import Grant, LimitCap, Role
from core.models.ledger import Account
from core.policy.engine import Dynamic
from core.policy.shaping import (
    LIMIT_KINDS,
    Gathered,
    GrantSpendTotals,
    Money,
    Proposal,
    Resource,
    cap_entries,
    caps_by_level,
    carrying,
    fold_spend,
    grant_facts,
    has_cumulative_limit,
    limits_of,
    role_facts,
    shape_request,
    tenant_day,
    window_facts,
)

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)  # Wednesday, 10:00 in Berlin
CUSTOMER = Actor(7, "pat", "Pat", bank_id=1, tenant_id=3)
STAFF = Actor(8, "sam", "Sam", bank_id=1, tenant_id=None)
# What may be absent is {"set": False}, or {"set": True, ...}: never a placeholder.
UNSET = {"set": False}


def _set(amount: int) -> dict[str, Any]:
    return {"set": True, "amount": amount}


def _role(**fields: Any) -> Role:
    base: dict[str, Any] = {
        "id": 11,
        "bank_id": 1,
        "tenant_id": 3,
        "key": "payer",
        "name": "Payer",
        "builtin": True,
        "level": "tenant",
    }
    return Role(**{**base, **fields})


def _grant(**fields: Any) -> Grant:
    base: dict[str, Any] = {
        "id": 21,
        "user_id": 7,
        "role_id": 11,
        "bank_id": 1,
        "tenant_id": 3,
        "all_accounts": True,
    }
    return Grant(**{**base, **fields})


def _account(**fields: Any) -> Account:
    base: dict[str, Any] = {
        "id": 31,
        "bank_id": 1,
        "tenant_id": 3,
        "name": "Operating",
        "currency": "EUR",
        "kind": "customer",
    }
    return Account(**{**base, **fields})


# -- resources, proposals, roles --------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        # An account's id is left out: every account the same grants reach shares a decision.
        (
            Resource.of_account(_account()),
            {"type": "account", "level": "tenant", "tenant": 3, "bank": 1},
        ),
        (
            Resource.of_account(_account(tenant_id=None, kind="clearing")),
            {"type": "account", "level": "bank", "bank": 1},
        ),
        (
            Resource.of_tenant(3, 1),
            {"type": "tenant", "level": "tenant", "tenant": 3, "bank": 1, "id": 3},
        ),
        (Resource.of_bank(1), {"type": "bank", "level": "bank", "bank": 1, "id": 1}),
        (
            Resource("grant", 5, 3, 1, extra=(("grantee", 7),)),
            {"type": "grant", "level": "tenant", "tenant": 3, "bank": 1, "id": 5, "grantee": 7},
        ),
        # No id, no id fact (never a placeholder 0).
        (
            Resource("user", None, 3, 1),
            {"type": "user", "level": "tenant", "tenant": 3, "bank": 1},
        ),
    ],
)
def test_a_resource_shows_the_policy_only_what_it_reads(
    resource: Resource, expected: dict[str, Any]
) -> None:
    assert resource.facts == expected


@pytest.mark.parametrize(
    ("proposal", "expected"),
    [
        (
            Proposal("EUR"),
            {"currency": "EUR", "per_transfer": UNSET, "daily": UNSET, "monthly": UNSET},
        ),
        (
            Proposal("USD", per_transfer=1, daily=2, monthly=3),
            {"currency": "USD", "per_transfer": _set(1), "daily": _set(2), "monthly": _set(3)},
        ),
        (
            Proposal("", daily=0),
            {"currency": "", "per_transfer": UNSET, "daily": _set(0), "monthly": UNSET},
        ),
    ],
)
def test_a_proposal_lists_each_limit_asked_for(
    proposal: Proposal, expected: dict[str, Any]
) -> None:
    assert proposal.as_facts() == expected


@pytest.mark.parametrize(
    ("role", "permissions", "expected"),
    [
        (
            _role(),
            [],
            {
                "key": "payer",
                "builtin": True,
                "level": "tenant",
                "permissions": [],
                "limit_currency": UNSET,
            },
        ),
        (
            _role(id=12, key="clerk", builtin=False, limit_currency="EUR"),
            ("account.read", "transfer.create"),
            {
                "key": "custom:12",
                "builtin": False,
                "level": "tenant",
                "permissions": ["account.read", "transfer.create"],
                "limit_currency": {"set": True, "currency": "EUR"},
            },
        ),
    ],
)
def test_a_role_is_named_by_its_key_or_as_custom(
    role: Role, permissions: Any, expected: dict[str, Any]
) -> None:
    assert role_facts(role, permissions) == expected


def test_carrying_keeps_the_grants_whose_role_carries_the_action() -> None:
    class Engine:
        def role_carries(self, role: dict[str, Any], permission: str) -> bool:
            return permission in role["permissions"]

    reads, pays = _role(id=1, builtin=False), _role(id=2, builtin=False)
    gathered = Gathered(
        pairs=[(_grant(id=1, role_id=1), reads), (_grant(id=2, role_id=2), pays)],
        permissions={1: ["account.read"], 2: ["account.read", "transfer.create"]},
    )
    kept = carrying(Engine(), gathered, "transfer.create")  # type: ignore[arg-type]
    assert [g.id for g, _ in kept] == [2]
    assert len(carrying(Engine(), gathered, "account.read")) == 2  # type: ignore[arg-type]


# -- caps, limits, windows --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], {}),
        (
            [LimitCap(bank_id=1, tenant_id=None, currency="EUR", daily_limit=500)],
            {"bank": {"daily": 500}},
        ),
        (
            [
                LimitCap(bank_id=1, tenant_id=None, currency="EUR", per_transfer_limit=9),
                LimitCap(bank_id=1, tenant_id=3, currency="EUR", daily_limit=5, monthly_limit=50),
            ],
            {"bank": {"per_transfer": 9}, "tenant": {"daily": 5, "monthly": 50}},
        ),
    ],
)
def test_caps_are_keyed_by_level_and_kind(rows: list[LimitCap], expected: Any) -> None:
    assert caps_by_level(rows) == expected


def test_cap_entries_list_each_kind_most_specific_level_first() -> None:
    entries = cap_entries([("grant", {"daily": 1}), ("role", {"daily": 2, "monthly": 9})])
    assert entries == {
        "per_transfer": [],
        "daily": [
            {"kind": "daily", "level": "grant", "amount": 1},
            {"kind": "daily", "level": "role", "amount": 2},
        ],
        "monthly": [{"kind": "monthly", "level": "role", "amount": 9}],
    }
    assert cap_entries([]) == {kind: [] for kind in LIMIT_KINDS}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_grant(), {}),
        (_grant(per_transfer_limit=1, monthly_limit=3), {"per_transfer": 1, "monthly": 3}),
        (_role(daily_limit=0), {"daily": 0}),
    ],
)
def test_limits_of_keeps_the_limits_set(obj: Grant | Role, expected: dict[str, int]) -> None:
    assert limits_of(obj) == expected


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        (_grant(), UNSET),
        (
            _grant(window_days="420", window_start=540, window_end=1020, window_zone="UTC"),
            {"set": True, "days": [0, 2, 4], "start": 540, "end": 1020, "zone": "UTC"},
        ),
    ],
)
def test_a_window_is_its_sorted_weekdays_and_minutes(grant: Grant, expected: Any) -> None:
    assert window_facts(grant) == expected


@pytest.mark.parametrize(
    ("grant", "role", "caps", "currency", "expected"),
    [
        (_grant(), _role(), None, "EUR", False),
        (_grant(), _role(), {"tenant": {"per_transfer": 5}}, "EUR", False),
        (_grant(), _role(), {"bank": {"daily": 5}}, "EUR", True),
        (_grant(), _role(), {"tenant": {"monthly": 5}}, "USD", True),
        (_grant(limit_currency="EUR", daily_limit=5), _role(), None, "EUR", True),
        (_grant(limit_currency="EUR", daily_limit=5), _role(), None, "USD", False),
        (_grant(limit_currency="EUR", per_transfer_limit=5), _role(), None, "EUR", False),
        (_grant(), _role(limit_currency="USD", monthly_limit=5), None, "USD", True),
    ],
)
def test_totals_matter_only_under_a_daily_or_monthly_limit(
    grant: Grant, role: Role, caps: Any, currency: str, expected: bool
) -> None:
    assert has_cumulative_limit(grant, role, caps, currency) is expected


def test_a_grants_caps_cascade_from_grant_to_bank_in_the_moneys_currency() -> None:
    grant = _grant(limit_currency="EUR", per_transfer_limit=1)
    role = _role(limit_currency="USD", per_transfer_limit=2)
    caps = {"tenant": {"per_transfer": 3}, "bank": {"per_transfer": 4}}
    facts = grant_facts(0, grant, role, [], caps=caps, currency="EUR")
    levels = [entry["level"] for entry in facts["caps"]["per_transfer"]]
    assert levels == ["grant", "tenant", "bank"]  # the role's limits are in USD
    assert facts["day_total"] == Dynamic("g0.day_total")
    assert facts["weekday"] == Dynamic("g0.weekday")
    assert facts["valid_from"] == UNSET and facts["window"] == UNSET
    # Without money no caps, and no dynamic facts.
    plain = grant_facts(0, grant, role, [], caps=caps, currency=None)
    assert plain["caps"] == cap_entries([])
    assert "day_total" not in plain


# -- the tenant's day and the totals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "zone", "today", "month_start"),
    [
        (NOW, "UTC", dt.date(2026, 11, 25), dt.date(2026, 11, 1)),
        # 23:30 UTC: already the 26th in Berlin, still the 25th in New York.
        (dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC), "Europe/Berlin", dt.date(2026, 11, 26), dt.date(2026, 11, 1)),
        (dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC), "America/New_York", dt.date(2026, 11, 25), dt.date(2026, 11, 1)),
        # A new month starts earlier east of Greenwich.
        (dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC), "Europe/Berlin", dt.date(2026, 12, 1), dt.date(2026, 12, 1)),
        (dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC), "Pacific/Honolulu", dt.date(2026, 11, 30), dt.date(2026, 11, 1)),
    ],
)  # fmt: skip
def test_the_tenants_day_and_month_are_counted_in_its_zone(
    now: dt.datetime, zone: str, today: dt.date, month_start: dt.date
) -> None:
    assert tenant_day(now, zone) == (today, month_start)


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


@given(
    now=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    zone=st.sampled_from(ZONES),
)
def test_the_month_starts_on_the_first_of_the_tenants_today(now: dt.datetime, zone: str) -> None:
    today, month_start = tenant_day(now, zone)
    assert month_start == today.replace(day=1)
    assert abs((today - now.date()).days) <= 1


def test_spend_rows_fold_into_todays_and_this_months_totals() -> None:
    today = dt.date(2026, 11, 25)
    rows = [
        ("grant", 1, today, 100),
        ("grant", 1, dt.date(2026, 11, 2), 40),
        ("grant", 2, dt.date(2026, 11, 3), 7),
        ("person", 9, today, 300),
        ("person", 9, dt.date(2026, 11, 1), 5),
    ]
    grants, person = fold_spend(rows, [1, 2, 3], today)
    assert grants == {
        1: GrantSpendTotals(spent_today=100, spent_month=140),
        2: GrantSpendTotals(spent_today=0, spent_month=7),
        3: GrantSpendTotals(),
    }
    assert person == GrantSpendTotals(spent_today=300, spent_month=305)


@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["grant", "person"]),
            st.integers(1, 3),
            st.dates(min_value=dt.date(2026, 11, 1), max_value=dt.date(2026, 11, 25)),
            st.integers(0, 10**12),
        ),
        max_size=20,
    )
)
def test_the_folded_totals_are_the_sums_of_their_rows(rows: list[Any]) -> None:
    today = dt.date(2026, 11, 25)
    grants, person = fold_spend(rows, [1, 2, 3], today)
    for grant_id, totals in grants.items():
        mine = [r for r in rows if r[0] == "grant" and r[1] == grant_id]
        assert totals.spent_month == sum(r[3] for r in mine)
        assert totals.spent_today == sum(r[3] for r in mine if r[2] == today)
    theirs = [r for r in rows if r[0] == "person"]
    assert person.spent_month == sum(r[3] for r in theirs)
    assert person.spent_today == sum(r[3] for r in theirs if r[2] == today)


# -- the request ------------------------------------------------------------------------------


def _money(amount: int = 250, currency: str = "EUR") -> Money:
    return Money(amount=amount, currency=currency, counterparty=_account(id=32))


def test_a_money_request_carries_the_amount_the_counterparty_and_the_totals_plus_it() -> None:
    windowed = _grant(id=2, window_days="01234", window_start=540, window_end=1020,
                      window_zone="America/New_York")  # fmt: skip
    gathered = Gathered(
        pairs=[(_grant(id=1), _role()), (windowed, _role())],
        permissions={},
        caps={"tenant": {"daily": 1_000}},
        spend={1: GrantSpendTotals(spent_today=100, spent_month=400)},
        person_spend=GrantSpendTotals(spent_today=150, spent_month=600),
    )
    facts = shape_request(
        gathered,
        actor=CUSTOMER,
        action="transfer.create",
        resource=Resource.of_account(_account()),
        now=NOW,
        money=_money(),
        tenant_zone="Europe/Berlin",
    )
    request, values = facts.request, facts.values
    assert request["currency"] == "EUR" and request["amount"] == Dynamic("amount")
    assert request["counterparty"] == {
        "kind": "customer",
        "level": "tenant",
        "tenant": 3,
        "bank": 1,
    }
    # A person's token is not narrowed by scopes (an API client's is: scoped, its scopes).
    assert request["actor"] == {
        "id": 7,
        "kind": "customer",
        "tenant": 3,
        "bank": 1,
        "scoped": False,
        "scopes": [],
    }
    assert [g["id"] for g in request["grants"]] == [1, 2]
    assert values == {
        "now": int(NOW.timestamp()),
        "amount": 250,
        "person.day_total": 150 + 250,
        "person.month_total": 600 + 250,
        # The first grant in the tenant's zone (10:00 Berlin, a Wednesday)...
        "g0.weekday": 2,
        "g0.minute": 10 * 60,
        "g0.day_total": 100 + 250,
        "g0.month_total": 400 + 250,
        # ...the second in its window's (04:00 New York); no totals read for it yet.
        "g1.weekday": 2,
        "g1.minute": 4 * 60,
        "g1.day_total": 250,
        "g1.month_total": 250,
        # The company's own time, for its own rules (a tenant extension).
        "local.weekday": 2,
        "local.minute": 10 * 60,
    }
    assert request["local_time"] == {
        "weekday": Dynamic("local.weekday"),
        "minute": Dynamic("local.minute"),
    }
    assert "beneficiary" not in request  # a transfer has none
    assert facts.local_times[2].utcoffset() == dt.timedelta(hours=-5)
    assert facts.day == dt.date(2026, 11, 25)


@pytest.mark.parametrize(
    ("money", "zone", "day"),
    [
        (None, "Europe/Berlin", None),  # no money, no day to count on
        (_money(), None, None),  # no tenant: no tenant-local day
        (_money(), "Pacific/Kiritimati", dt.date(2026, 11, 25)),
    ],
)
def test_the_day_a_movement_counts_on_is_the_tenants(
    money: Money | None, zone: str | None, day: dt.date | None
) -> None:
    facts = shape_request(
        Gathered(pairs=[], permissions={}),
        actor=CUSTOMER,
        action="transfer.create" if money else "account.read",
        resource=Resource.of_account(_account()),
        now=NOW,
        money=money,
        tenant_zone=zone,
    )
    assert facts.day == day


@pytest.mark.parametrize(
    ("action", "proposal", "expected_proposal"),
    [
        ("account.read", None, None),
        ("grant.manage", None, Proposal("").as_facts()),
        ("role.manage", Proposal("EUR", daily=5), Proposal("EUR", daily=5).as_facts()),
    ],
)
def test_a_proposal_is_checked_against_the_tenants_and_banks_caps(
    action: str, proposal: Proposal | None, expected_proposal: Any
) -> None:
    gathered = Gathered(
        pairs=[],
        permissions={},
        proposal_caps={"bank": {"daily": 9}, "tenant": {"daily": 5}},
    )
    facts = shape_request(
        gathered,
        actor=STAFF,
        action=action,
        resource=Resource.of_tenant(3, 1),
        now=NOW,
        proposal=proposal,
    )
    assert facts.request.get("proposal") == expected_proposal
    if expected_proposal is not None:
        levels = [e["level"] for e in facts.request["caps"]["daily"]]
        assert levels == ["tenant", "bank"]
    else:
        assert "caps" not in facts.request
    assert facts.values == {"now": int(NOW.timestamp())}


def test_a_payment_carries_its_beneficiarys_age_in_whole_days() -> None:
    gathered = Gathered(pairs=[(_grant(id=1), _role())], permissions={})
    money = Money(250, "EUR", _account(), beneficiary_added_at=NOW - dt.timedelta(days=6, hours=23))
    facts = shape_request(
        gathered,
        actor=CUSTOMER,
        action="payment.create",
        resource=Resource.of_account(_account()),
        now=NOW,
        money=money,
        tenant_zone="Europe/Berlin",
    )
    assert facts.request["beneficiary"] == {"age_days": Dynamic("beneficiary.age_days")}
    assert facts.values["beneficiary.age_days"] == 6
