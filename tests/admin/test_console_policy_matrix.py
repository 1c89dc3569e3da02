"""The console's Policy page shows, beside the files, what each action checks: the matrix
generated from the loaded policy, with the policy's own names and words."""

from __future__ import annotations

import re

from core.policy import engine as policy_engine
from core.policy.matrix import condition_matrix
from tests.admin.console import sign_in


def _row(page: str, action: str) -> str:
    found = re.search(rf'<tr data-action="{re.escape(action)}">(.*?)</tr>', page, re.S)
    assert found, action
    return found.group(1)


def test_the_policy_page_shows_the_generated_matrix(client, world):
    sign_in(client, "compliance")
    page = client.get("/console/policy").text
    assert 'id="policy-matrix"' in page
    matrix = condition_matrix(policy_engine.current())
    for check in matrix.checks:
        assert f"<code>{check.reason}</code>" in page
        assert check.text.replace("'", "&#39;") in page
    for action in matrix.actions:
        cells = dict(
            re.findall(r'<td data-reason="([a-z_]+)">(\d*)</td>', _row(page, action.action))
        )
        assert cells == {c.reason: str(action.position(c.reason) or "") for c in matrix.checks}, (
            action.action
        )
    transfer = dict(
        re.findall(r'<td data-reason="([a-z_]+)">(\d*)</td>', _row(page, "transfer.create"))
    )
    assert transfer["limit_daily"] == "9" and transfer["exceeds_cap"] == ""


def test_the_payment_actions_show_their_checks(client, world):
    sign_in(client, "compliance")
    page = client.get("/console/policy").text
    approve = dict(
        re.findall(r'<td data-reason="([a-z_]+)">(\d*)</td>', _row(page, "payment.approve"))
    )
    assert approve["payment_not_pending"] == "5" and approve["approval_limit_exceeded"] == "10"
    assert approve["limit_daily"] == ""
    reject = _row(page, "payment.reject")
    assert "With payment.approve" in reject
    cancel = _row(page, "payment.cancel")
    assert "or, with no grant, an own action" in cancel
    assert '<td data-reason="payment_not_pending">5</td>' in cancel
    assert "own action, no grant" in _row(page, "self.read")
