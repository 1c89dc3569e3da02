"""A grant's and a role's conditions as plain functions (core.iam.conditions): what a patch
makes of each part, which patches are refused, and how conditions are written on the row.
No database: the rows are built in memory."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import DAY_NAMES
from core.errors import InvalidRequest
from core.iam import public
from core.iam.conditions import (
    ApprovalTerms,
    GrantConditions,
    GrantScope,
    check_approval,
    check_scope,
    check_validity,
    patched,
    patched_conditions,
    patched_scope,
    proposal,
    set_conditions,
    set_limits,
)
from core.iam.schemas import GrantPublic, GrantUpdate, LimitSet, TimeWindow
from core.models.iam import Grant, Role
from core.policy.facts import Proposal

UTC = dt.UTC
JAN = dt.datetime(2027, 1, 1, tzinfo=UTC)
FEB = dt.datetime(2027, 2, 1, tzinfo=UTC)
MAR = dt.datetime(2027, 3, 1, tzinfo=UTC)
EUR_100 = LimitSet(currency="EUR", per_transfer=100_00)
USD_50 = LimitSet(currency="USD", daily=50_00)
OFFICE = TimeWindow(days=["mon", "fri"], start="09:00", end="17:00", time_zone="Europe/Berlin")
NIGHT = TimeWindow(days=["sat"], start="22:00", end="02:00", time_zone="UTC")


def _current(**overrides: object) -> GrantPublic:
    fields: dict[str, object] = {
        "id": 7,
        "user_id": 3,
        "role_id": 2,
        "role_key": "payer",
        "role_name": "Payer",
        "tenant_id": 1,
        "all_accounts": False,
        "account_ids": [11, 12],
        "limits": EUR_100,
        "window": OFFICE,
        "valid_from": JAN,
        "valid_until": MAR,
        "approval_group": None,
        "approval_limit": None,
        "created_by": None,
        "created_at": JAN,
        "revoked_at": None,
    }
    return GrantPublic.model_validate({**fields, **overrides})


# -- given, cleared or kept -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_value", "clear", "current", "expected"),
    [
        (USD_50, False, EUR_100, USD_50),  # given
        (USD_50, True, EUR_100, USD_50),  # given wins over clear
        (None, True, EUR_100, None),  # cleared
        (None, False, EUR_100, EUR_100),  # kept
        (None, False, None, None),  # kept: nothing
        (None, True, None, None),
    ],
)
def test_a_patch_part_is_given_cleared_or_kept(given_value, clear, current, expected):  # type: ignore[no-untyped-def]
    assert patched(given_value, clear, current) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GrantUpdate(), GrantConditions(EUR_100, OFFICE, JAN, MAR)),
        (GrantUpdate(limits=USD_50), GrantConditions(USD_50, OFFICE, JAN, MAR)),
        (GrantUpdate(clear_limits=True), GrantConditions(None, OFFICE, JAN, MAR)),
        (GrantUpdate(window=NIGHT), GrantConditions(EUR_100, NIGHT, JAN, MAR)),
        (GrantUpdate(clear_window=True), GrantConditions(EUR_100, None, JAN, MAR)),
        (GrantUpdate(valid_until=FEB), GrantConditions(EUR_100, OFFICE, JAN, FEB)),
        (GrantUpdate(valid_from=FEB), GrantConditions(EUR_100, OFFICE, FEB, MAR)),
        (GrantUpdate(clear_validity=True), GrantConditions(EUR_100, OFFICE, None, None)),
        # Clearing the validity and giving one end keeps only that end.
        (
            GrantUpdate(clear_validity=True, valid_until=FEB),
            GrantConditions(EUR_100, OFFICE, None, FEB),
        ),
        (
            GrantUpdate(limits=USD_50, clear_window=True, clear_validity=True),
            GrantConditions(USD_50, None, None, None),
        ),
    ],
)
def test_the_conditions_a_patch_leaves(body: GrantUpdate, expected: GrantConditions) -> None:
    assert patched_conditions(_current(), body) == expected


@pytest.mark.parametrize(
    "body",
    [
        GrantUpdate(valid_from=MAR),  # the kept end is not after the new start
        GrantUpdate(valid_until=JAN),
        GrantUpdate(valid_from=FEB, valid_until=FEB),
    ],
)
def test_a_validity_that_ends_before_it_starts_is_refused(body: GrantUpdate) -> None:
    with pytest.raises(InvalidRequest) as refused:
        patched_conditions(_current(), body)
    assert refused.value.code == "invalid_validity"


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "ok"),
    [(None, None, True), (JAN, None, True), (None, JAN, True), (JAN, FEB, True), (FEB, JAN, False)],
)
def test_check_validity(valid_from, valid_until, ok):  # type: ignore[no-untyped-def]
    if ok:
        check_validity(valid_from, valid_until)
    else:
        with pytest.raises(InvalidRequest, match="valid_from must be before valid_until"):
            check_validity(valid_from, valid_until)


# -- an approver's terms --------------------------------------------------------------------

APPROVER = ["account.read", "payment.approve"]
A_1000 = ApprovalTerms("A", 1_000_00)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GrantUpdate(), A_1000),  # kept
        (GrantUpdate(approval_group="B"), ApprovalTerms("B", 1_000_00)),
        (GrantUpdate(approval_limit=5_00), ApprovalTerms("A", 5_00)),
        (GrantUpdate(clear_approval_group=True), ApprovalTerms(None, 1_000_00)),
        (GrantUpdate(clear_approval_limit=True), ApprovalTerms("A", None)),
        (
            GrantUpdate(clear_approval_group=True, clear_approval_limit=True),
            ApprovalTerms(),
        ),
        # Given wins over clear, as for every part.
        (GrantUpdate(approval_limit=7_00, clear_approval_limit=True), ApprovalTerms("A", 7_00)),
        # Other parts leave the terms alone.
        (GrantUpdate(clear_limits=True, clear_window=True), A_1000),
    ],
)
def test_the_approval_terms_a_patch_leaves(body: GrantUpdate, expected: ApprovalTerms) -> None:
    current = _current(approval_group="A", approval_limit=1_000_00)
    assert patched_conditions(current, body).approval == expected


def test_a_null_in_a_patch_keeps_the_approval_terms() -> None:
    # A null never widens: clearing is asked for by name (clear_approval_limit).
    body = GrantUpdate.model_validate({"approval_group": None, "approval_limit": None})
    current = _current(approval_group="B", approval_limit=1_00)
    assert patched_conditions(current, body).approval == ApprovalTerms("B", 1_00)


@pytest.mark.parametrize(
    ("conditions", "given", "permissions"),
    [
        (GrantConditions(), ApprovalTerms(), ["account.read"]),  # nothing asked
        (GrantConditions(EUR_100, approval=A_1000), A_1000, APPROVER),
        (GrantConditions(approval=ApprovalTerms("B")), ApprovalTerms("B"), APPROVER),
        (GrantConditions(LimitSet(currency="EUR"), approval=A_1000), A_1000, APPROVER),
        # Terms kept from before are not held to the role (it may have lost the permission).
        (GrantConditions(EUR_100, approval=A_1000), ApprovalTerms(), ["account.read"]),
    ],
)
def test_approval_terms_that_mean_something_pass(conditions, given, permissions):  # type: ignore[no-untyped-def]
    check_approval(conditions, given, "Approver", permissions)


@pytest.mark.parametrize(
    ("conditions", "given", "permissions", "field", "message"),
    [
        (
            GrantConditions(approval=ApprovalTerms("A")),
            ApprovalTerms("A"),
            ["transfer.create"],
            "approval_group",
            "the role Payer does not carry payment.approve",
        ),
        (
            GrantConditions(EUR_100, approval=ApprovalTerms(limit=1_00)),
            ApprovalTerms(limit=1_00),
            ["transfer.create"],
            "approval_limit",
            "the bank refuses terms that do nothing",
        ),
        (
            GrantConditions(approval=ApprovalTerms(limit=1_00)),
            ApprovalTerms(limit=1_00),
            APPROVER,
            "approval_limit",
            "counted in the grant's limit currency",
        ),
        # Clearing the limits leaves a kept approval limit without its currency.
        (
            GrantConditions(approval=A_1000),
            ApprovalTerms(),
            APPROVER,
            "approval_limit",
            "counted in the grant's limit currency",
        ),
    ],
)
def test_approval_terms_that_would_mean_nothing_are_refused(  # type: ignore[no-untyped-def]
    conditions, given, permissions, field, message
):
    with pytest.raises(InvalidRequest, match=message) as refused:
        check_approval(conditions, given, "Payer", permissions)
    assert refused.value.code == "invalid_request"
    assert refused.value.context["field"] == field
    assert refused.value.detail.startswith(f"{field}: ")


# -- the scope ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "body", "expected"),
    [
        ({}, GrantUpdate(), None),  # left alone
        ({}, GrantUpdate(limits=USD_50), None),
        ({}, GrantUpdate(all_accounts=True), GrantScope(True, [])),  # the list goes
        ({}, GrantUpdate(account_ids=[13]), GrantScope(False, [13])),
        ({}, GrantUpdate(all_accounts=False), GrantScope(False, [11, 12])),  # the list stays
        (
            {"all_accounts": True, "account_ids": []},
            GrantUpdate(all_accounts=False, account_ids=[11]),
            GrantScope(False, [11]),
        ),
        (
            {"all_accounts": True, "account_ids": []},
            GrantUpdate(all_accounts=True),
            GrantScope(True, []),
        ),
    ],
)
def test_the_scope_a_patch_gives(current, body, expected):  # type: ignore[no-untyped-def]
    assert patched_scope(_current(**current), body) == expected


@pytest.mark.parametrize(
    ("current", "body", "message"),
    [
        ({}, GrantUpdate(all_accounts=True, account_ids=[11]), "only with all_accounts false"),
        ({}, GrantUpdate(account_ids=[]), "needs account_ids"),
        (
            {"all_accounts": True, "account_ids": []},
            GrantUpdate(all_accounts=False),
            "needs account_ids",
        ),
        (
            {"all_accounts": True, "account_ids": []},
            GrantUpdate(account_ids=[11]),
            "only with all_accounts false",
        ),
    ],
)
def test_a_scope_both_or_neither_is_refused(current, body, message):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest, match=message) as refused:
        patched_scope(_current(**current), body)
    assert refused.value.code == "invalid_scope"


@pytest.mark.parametrize(
    ("scope", "ok"),
    [
        (GrantScope(True, []), True),
        (GrantScope(False, [1]), True),
        (GrantScope(True, [1]), False),
        (GrantScope(False, []), False),
    ],
)
def test_check_scope(scope: GrantScope, ok: bool) -> None:
    if ok:
        check_scope(scope)
    else:
        with pytest.raises(InvalidRequest):
            check_scope(scope)


# -- for the policy, and on the row ---------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (None, Proposal(currency="")),
        (EUR_100, Proposal("EUR", 100_00, None, None)),
        (LimitSet(currency="USD", per_transfer=1, daily=2, monthly=3), Proposal("USD", 1, 2, 3)),
    ],
)
def test_the_proposal_the_policy_holds_against_the_caps(limits, expected):  # type: ignore[no-untyped-def]
    assert proposal(limits) == expected


@pytest.mark.parametrize("limits", [None, EUR_100, USD_50])
def test_limits_written_on_a_row_read_back_the_same(limits: LimitSet | None) -> None:
    for row in (Role(), Grant()):
        set_limits(row, limits)
        assert public.limits(row) == limits


def test_a_window_is_stored_as_weekday_digits_minutes_and_zone() -> None:
    grant = Grant()
    window = TimeWindow(days=["fri", "mon", "fri"], start="09:30", end="24:00", time_zone="UTC")
    set_conditions(grant, GrantConditions(window=window, valid_from=JAN))
    assert (grant.window_days, grant.window_start, grant.window_end, grant.window_zone) == (
        "04",
        9 * 60 + 30,
        24 * 60,
        "UTC",
    )
    assert (grant.valid_from, grant.valid_until) == (JAN, None)
    assert (grant.approval_group, grant.approval_limit) == (None, None)
    set_conditions(grant, GrantConditions(approval=ApprovalTerms("B", 5_00)))
    assert (grant.approval_group, grant.approval_limit) == ("B", 5_00)
    set_conditions(grant, GrantConditions())
    assert (grant.window_days, grant.window_start, grant.window_end, grant.window_zone) == (
        None,
        None,
        None,
        None,
    )
    assert grant.valid_from is None
    assert (grant.approval_group, grant.approval_limit) == (None, None)


@given(
    days=st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=7),
    start=st.integers(min_value=0, max_value=23 * 60 + 59),
    end=st.integers(min_value=1, max_value=24 * 60),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_a_window_written_on_the_row_reads_back_in_week_order(days, start, end, zone):  # type: ignore[no-untyped-def]
    def hhmm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    if start == end:
        return
    window = TimeWindow(days=days, start=hhmm(start), end=hhmm(end), time_zone=zone)
    grant = Grant()
    set_conditions(grant, GrantConditions(window=window))
    read = public.window(grant)
    assert read is not None
    assert read.days == sorted(set(days), key=DAY_NAMES.index)
    assert (read.start, read.end, read.time_zone) == (window.start, window.end, zone)
