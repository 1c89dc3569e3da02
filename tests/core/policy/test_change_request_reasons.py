"""Every refusal reason is worded everywhere a person or a client reads it: the explain API's
name for its check, and (for the change-request conditions) a sentence each way."""

from __future__ import annotations

from core.policy.explain import API_NAMES
from core.policy.reasons import CHANGE_REQUEST_WORDS, Reason, describe_condition


def test_every_reason_has_an_explain_name():
    assert set(API_NAMES) == set(Reason)


def test_change_request_conditions_are_worded_both_ways():
    for reason in CHANGE_REQUEST_WORDS:
        held = describe_condition(reason, True, {}, request={})
        refused = describe_condition(reason, False, {}, request={})
        assert held != refused and "Holds" not in held
