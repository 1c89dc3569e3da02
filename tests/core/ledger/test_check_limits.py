"""The spend and limits checks' judgement of one holder's days, the merge of streams and the
tenant-local day: pure, no database."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.ledger.check.checks import start
from core.ledger.check.limits import (
    GrantInfo,
    HolderReview,
    Limit,
    OwnLimits,
    PersonInfo,
    binding_limit,
    recorded_by_day,
    review_holder,
    sent_by_day,
)
from core.ledger.check.spend_queries import Stream, local_day_of

DAY = dt.date(2026, 11, 26)
NEXT_DAY = dt.date(2026, 11, 27)
OLD = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SENT_AT = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def grant(*, daily: int | None = None, monthly: int | None = None, changed=OLD) -> GrantInfo:
    return GrantInfo(
        id=3,
        bank_id=1,
        customer_tenant_id=1,
        limits=[
            OwnLimits("grant", "EUR", daily, monthly, changed),
            OwnLimits("role", None, None, None, None),
        ],
    )


def review(label, info, recorded, sent, caps=None) -> HolderReview:  # type: ignore[no-untyped-def]
    result = HolderReview(start("spend"), start("limits"))
    review_holder(
        label,
        info,
        recorded_by_day((info.id, day, currency, amount) for day, currency, amount in recorded),
        sent_by_day((info.id, day, c, amount, SENT_AT) for day, c, amount in sent),
        caps or {},
        result,
    )
    return result


def test_running_totals_equal_to_the_transfers_pass():
    result = review("grant", grant(), [(DAY, "EUR", 325_00)], [(DAY, "EUR", 325_00)])
    assert result.spend.ok and result.limits.ok
    assert result.spend.examined == 1


def test_a_running_total_off_by_a_cent_fails_with_the_day_and_both_amounts():
    result = review(
        "grant",
        grant(),
        [(DAY, "EUR", 324_99), (NEXT_DAY, "EUR", 1_00)],
        [(DAY, "EUR", 325_00), (DAY, "USD", 5_00)],
    )
    assert result.spend.examined == 2
    assert result.spend.examples == [
        "grant 3 on 2026-11-26: grant_spend says 324.99 EUR, its transfers and payments sum to "
        "325.00 EUR (325.00 EUR, 5.00 USD)",
        "grant 3 on 2026-11-26: grant_spend says 0.00 USD, its transfers and payments sum to "
        "5.00 USD (325.00 EUR, 5.00 USD)",
        "grant 3 on 2026-11-27: grant_spend says 1.00 EUR, its transfers and payments sum to "
        "0.00 EUR (none)",
    ]


def test_a_grant_past_its_daily_and_monthly_limits_fails_both():
    result = review(
        "grant",
        grant(daily=300_00, monthly=400_00),
        [(DAY, "EUR", 325_00), (NEXT_DAY, "EUR", 100_00)],
        [(DAY, "EUR", 325_00), (NEXT_DAY, "EUR", 100_00)],
    )
    assert result.limits.examples == [
        "grant 3 daily 2026-11-26: spent 325.00 EUR, grant daily limit is 300.00 EUR",
        "grant 3 monthly 2026-11: spent 425.00 EUR, grant monthly limit is 400.00 EUR",
    ]


def test_a_limit_lowered_after_the_last_transfer_is_only_a_warning():
    result = review(
        "grant", grant(daily=1_00, changed=LATER), [(DAY, "EUR", 5_00)], [(DAY, "EUR", 5_00)]
    )
    assert result.limits.ok
    assert result.limits.warning_examples == [
        "grant 3 daily 2026-11-26: spent 5.00 EUR, grant daily limit is 1.00 EUR "
        "(the limit was changed after the last transfer)"
    ]


def test_a_person_is_held_to_the_tenants_and_the_banks_caps_the_running_total_counting():
    person = PersonInfo(id=7, bank_id=1, customer_tenant_id=1)
    caps = {
        (1, "EUR"): SimpleNamespace(daily_limit=300_00, monthly_limit=None, updated_at=OLD),
        (None, "EUR"): SimpleNamespace(daily_limit=200_00, monthly_limit=None, updated_at=OLD),
    }
    result = review("person", person, [(DAY, "EUR", 325_01)], [(DAY, "EUR", 325_00)], caps)
    assert result.spend.examples[0].startswith("person 7 on 2026-11-26: person_spend says")
    assert result.limits.examples == [
        "person 7 daily 2026-11-26: spent 325.01 EUR, bank daily limit for each person is "
        "200.00 EUR"
    ]
    staff = PersonInfo(id=8, bank_id=1, customer_tenant_id=None)
    assert review("person", staff, [(DAY, "EUR", 1)], [(DAY, "EUR", 1)], caps).limits.ok


def test_the_binding_limit_is_the_smallest_that_held_when_the_money_was_spent():
    held, lowered = Limit("role", 300_00, OLD), Limit("grant", 1_00, LATER)
    assert binding_limit([held, lowered], SENT_AT) == (held, True)
    assert binding_limit([lowered], SENT_AT) == (lowered, False)
    assert binding_limit([held, lowered], None) == (lowered, True)


@given(st.lists(st.integers(0, 20)), st.lists(st.integers(0, 25), unique=True))
def test_a_stream_hands_each_key_exactly_its_rows(keys: list[int], asked: list[int]) -> None:
    rows = [(key, n) for n, key in enumerate(sorted(keys))]
    stream = Stream(rows)
    for key in sorted(asked):
        assert list(stream.take(key)) == [row for row in rows if row[0] == key]


def test_a_minute_falls_on_the_tenants_day():
    berlin = ZoneInfo("Europe/Berlin")
    assert local_day_of("2026-11-25 22:59", berlin) == dt.date(2026, 11, 25)
    assert local_day_of("2026-11-25 23:00", berlin) == dt.date(2026, 11, 26)
    assert local_day_of("2026-11-25 23:00", ZoneInfo("UTC")) == dt.date(2026, 11, 25)
