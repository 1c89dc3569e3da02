"""The AuthZEN searches: a resource search is the person's own list, page by page; a subject
search finds exactly whom an evaluation allows; and schemathesis over the operations."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.api.test_fuzz import SCHEMA
from tests.authzen_questions import EVALUATION, Ask
from tests.factories import bearer

# -- searches ---------------------------------------------------------------------------------

SEARCH_RESOURCE = "/access/v1/search/resource"
SEARCH_SUBJECT = "/access/v1/search/subject"
LISTS = {
    ("account", "account.read"): "/v1/accounts",
    ("payment", "account.read"): "/v1/payments",
    ("beneficiary", "beneficiary.read"): "/v1/beneficiaries",
}


def _search_pages(client, headers, body: dict[str, Any], path: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pages, token = [], None
    while True:
        sent = {**body, "page": {"limit": 1, **({"token": token} if token else {})}}
        response = client.post(path, json=sent, headers=headers)
        assert response.status_code == 200, response.text
        found = response.json()
        pages.append([r["id"] for r in found["results"]])
        assert found["page"]["count"] == len(found["results"])
        token = found["page"]["next_token"]
        if not token:
            return pages


def _list_pages(client, headers, path: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pages, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        listed = client.get(path, params=params, headers=headers)
        assert listed.status_code == 200, listed.text
        pages.append([str(item["id"]) for item in listed.json()["items"]])
        cursor = listed.json()["next_cursor"]
        if not cursor:
            return pages


@pytest.mark.parametrize(
    "person",
    ["acme-bookkeeper", "acme-payer", "acme-admin", "manager", "compliance", "acme-payer-later"],
)
def test_a_resource_search_is_the_persons_own_list_page_by_page(client, app, dw, clock, person):
    """What the search finds for a person is what the API lists to that person, in the same
    order and pages; and each found resource, asked about, is allowed."""
    world = dw.world
    service = bearer(app, world.users["bank-decisions"], clock)
    own = bearer(app, world.users[person], clock)
    for (kind, action), path in LISTS.items():
        body = {
            "subject": {"type": "user", "id": person},
            "action": {"name": action},
            "resource": {"type": kind},
        }
        searched = _search_pages(client, service, body, SEARCH_RESOURCE)
        assert searched == _list_pages(client, own, path), (person, kind)
        for rid in [rid for page in searched for rid in page]:
            asked = client.post(
                EVALUATION, json={**body, "resource": {"type": kind, "id": rid}}, headers=service
            )
            assert asked.json() == {"decision": True}, (person, kind, rid)


def test_a_statement_search_finds_exactly_the_accounts_whose_statement_is_readable(
    client, app, dw, clock
):
    world = dw.world
    service = bearer(app, world.users["bank-decisions"], clock)
    for person in ("acme-bookkeeper", "acme-admin", "compliance", "acme-decisions"):
        body = {
            "subject": {"type": "user", "id": person},
            "action": {"name": "statement.read"},
            "resource": {"type": "account"},
        }
        found = {
            rid for page in _search_pages(client, service, body, SEARCH_RESOURCE) for rid in page
        }
        every = client.get(
            "/v1/accounts",
            params={"limit": 200},
            headers=bearer(app, world.users["manager"], clock),
        )
        readable = set()
        for account in every.json()["items"]:
            asked = client.post(
                EVALUATION,
                json={**body, "resource": {"type": "account", "id": str(account["id"])}},
                headers=service,
            )
            if asked.json()["decision"]:
                readable.add(str(account["id"]))
        assert found == readable, person


def test_a_subject_search_finds_exactly_who_an_evaluation_allows(client, app, dw, clock):
    world = dw.world
    for asker in ("acme-decisions", "bank-decisions"):
        headers = bearer(app, world.users[asker], clock)
        for question in (
            Ask("-", "payment.approve", "payment", "pending"),
            Ask("-", "account.read", "account", "acme-operating"),
            Ask(
                "-",
                "transfer.create",
                "account",
                "acme-operating",
                {"amount": 1_000_00, "to_account": str(world.account_id("acme-payroll"))},
            ),
            Ask("-", "beneficiary.manage", "beneficiary", "supplier"),
        ):
            body = question.body(dw)
            body["subject"] = {"type": "user"}
            pages = _search_pages(client, headers, body, SEARCH_SUBJECT)
            found = [name for page in pages for name in page]
            allowed = []
            for name in sorted(world.users, key=world.user_id):
                body_of = {**question.body(dw), "subject": {"type": "user", "id": name}}
                if client.post(EVALUATION, json=body_of, headers=headers).json()["decision"]:
                    allowed.append(name)
            assert found == allowed and found, (asker, question)
    approvers = client.post(
        SEARCH_SUBJECT,
        json={
            "subject": {"type": "user"},
            "action": {"name": "payment.approve"},
            "resource": {"type": "payment", "id": str(dw.pending_payment_id)},
        },
        headers=bearer(app, world.users["acme-decisions"], clock),
    ).json()["results"]
    assert {a["id"] for a in approvers} == {
        "acme-approver-a",
        "acme-approver-b",
        "acme-approver-b2",
    }


def test_searches_about_another_company_find_nothing_as_about_nobody(client, app, dw, clock):
    world = dw.world
    headers = bearer(app, world.users["acme-decisions"], clock)
    empty = {"results": [], "page": {"next_token": "", "count": 0}}
    for subject in ("globex-payer", "nobody", "manager"):
        body = {
            "subject": {"type": "user", "id": subject},
            "action": {"name": "account.read"},
            "resource": {"type": "account"},
        }
        assert client.post(SEARCH_RESOURCE, json=body, headers=headers).json() == empty
    for rid in (str(world.account_id("globex-main")), "999999"):
        body = {
            "subject": {"type": "user"},
            "action": {"name": "account.read"},
            "resource": {"type": "account", "id": rid},
        }
        assert client.post(SEARCH_SUBJECT, json=body, headers=headers).json() == empty
    # Globex's service never learns Acme's people.
    other = bearer(app, world.users["globex-decisions"], clock)
    body = {
        "subject": {"type": "user"},
        "action": {"name": "account.read"},
        "resource": {"type": "account", "id": str(world.account_id("globex-main"))},
    }
    found = client.post(SEARCH_SUBJECT, json=body, headers=other).json()["results"]
    assert found and all(r["id"].startswith("globex-") for r in found)


def test_a_search_refuses_what_it_cannot_list_and_tokens_not_its_own(client, app, dw, clock):
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    body = {
        "subject": {"type": "user", "id": "acme-payer"},
        "action": {"name": "transfer.create"},
        "resource": {"type": "account"},
    }
    response = client.post(SEARCH_RESOURCE, json=body, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "unknown_action"
    body["action"]["name"] = "account.read"
    for subject in ("acme-payer", "globex-payer"):
        body["subject"]["id"] = subject
        forged = client.post(
            SEARCH_RESOURCE, json={**body, "page": {"token": "forged"}}, headers=headers
        )
        assert forged.status_code == 422 and forged.json()["error"] == "invalid_cursor"


# -- hostile input ----------------------------------------------------------------------------

ASKERS = itertools.cycle(("acme-decisions", "bank-decisions", "globex-decisions", "acme-payer"))
DECISION_OPERATIONS = SCHEMA.include(path_regex=r"^/(access|\.well-known)/")


@DECISION_OPERATIONS.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_the_decision_operations_survive_hostile_input(case, app, dw, clock):  # type: ignore[no-untyped-def]
    """Schemathesis over the AuthZEN operations (bounded as tests/api/test_fuzz.py bounds it),
    asked by decision services of both levels, another company's, and someone without
    decision.evaluate: no server error, no answer the document does not describe."""
    headers = bearer(app, dw.world.users[next(ASKERS)], clock)
    case.call_and_validate(app=app, headers=headers)


def test_a_subject_search_decides_a_bounded_number_per_call(client, app, dw, clock, monkeypatch):
    """Past MAX_SCANNED people decided, a page ends short with a token to go on: the pages
    together still hold exactly whom the search finds in one go."""
    from core.authzen import search

    headers = bearer(app, dw.world.users["bank-decisions"], clock)
    body = {
        "subject": {"type": "user"},
        "action": {"name": "account.read"},
        "resource": {"type": "account", "id": str(dw.world.account_id("acme-operating"))},
    }
    whole = client.post(SEARCH_SUBJECT, json=body, headers=headers).json()
    assert whole["page"]["next_token"] == ""
    monkeypatch.setattr(search, "MAX_SCANNED", 3)
    found, token, calls = [], None, 0
    while True:
        sent = {**body, **({"page": {"token": token}} if token else {})}
        page = client.post(SEARCH_SUBJECT, json=sent, headers=headers).json()
        found += [r["id"] for r in page["results"]]
        calls += 1
        token = page["page"]["next_token"]
        if not token:
            break
    assert found == [r["id"] for r in whole["results"]]
    assert calls >= 5  # 18 candidates (Acme's people and the bank's staff), 3 a call
