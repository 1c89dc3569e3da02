"""The console's policy versions: the list, a version with its side-by-side diff, the impact,
and approve / activate offered only to whoever may (the author sees none, and a forged
approval is refused)."""

from __future__ import annotations

import pytest

from core.policy import engine as policy_engine
from core.settings import REPO_ROOT
from tests.admin.console import sign_in
from tests.factories import bearer
from tests.policy_versions_world import second_officer, tighter_bookkeeper


@pytest.fixture(autouse=True)
def _bundled_engine_after():  # type: ignore[no-untyped-def]
    yield
    policy_engine.ensure_loaded(REPO_ROOT / "policies")


def test_a_version_is_reviewed_approved_and_activated_in_the_console(client, app, world, db, clock):
    second_officer(world, db, app.state.services.passwords, clock)
    api = bearer(app, world.users["compliance"], clock)
    first = client.post(
        "/v1/policy/versions",
        json={"files": tighter_bookkeeper()["files"] | {}, "cases": {}, "note": "x"},
        headers=api,
    )
    assert first.status_code == 422  # its case fails: nothing stored
    proposed = client.post("/v1/policy/versions", json=tighter_bookkeeper(), headers=api)
    assert proposed.status_code == 201
    vid = proposed.json()["id"]
    bundled = client.post(
        "/v1/policy/versions",
        json={"files": {p.name: p.read_text() for p in (REPO_ROOT / "policies").glob("*.polar")}},
        headers=bearer(app, world.users["manager"], clock),
    ).json()["id"]

    # The author: the list, the diff, no buttons; a forged approval is refused.
    token = sign_in(client, "compliance")
    listing = client.get("/console/policy/versions")
    assert listing.status_code == 200 and f'data-version="{vid}"' in listing.text
    page = client.get(f"/console/policy/versions/{vid}?against={bundled}")
    assert page.status_code == 200
    assert 'class="diff-changed"' in page.text and "statement.read" in page.text
    assert 'id="approve"' not in page.text and 'id="activate"' not in page.text
    assert "You proposed this version" in page.text
    forged = client.post(f"/console/policy/versions/{vid}/approve", data={"csrf_token": token})
    assert forged.status_code == 403
    replay = client.post(f"/console/policy/versions/{vid}/impact", data={"csrf_token": token})
    assert replay.status_code == 200 and 'id="impact"' in replay.text

    # The second officer approves, then activates.
    token = sign_in(client, "compliance-b")
    page = client.get(f"/console/policy/versions/{vid}")
    assert 'id="approve"' in page.text and 'id="activate"' not in page.text
    done = client.post(
        f"/console/policy/versions/{vid}/approve",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(f"/console/policy/versions/{vid}")
    assert 'id="activate"' in page.text
    done = client.post(
        f"/console/policy/versions/{vid}/activate",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert done.status_code == 200 and "Version activated" in done.text
    assert 'data-status="active"' in client.get("/console/policy/versions").text


def test_customers_have_no_policy_versions_page(client, world):
    sign_in(client, "acme-admin")
    assert client.get("/console/policy/versions").status_code == 404
    assert "Policy versions" not in client.get("/console/activity").text


def test_the_impacts_sample_decisions_link_to_their_page(client, app, world, db, clock):
    """Each sample id of an impact opens that decision, with the facts it was made on."""
    operating = world.account_id("acme-operating")
    bookkeeper = bearer(app, world.users["acme-bookkeeper"], clock)
    assert client.get(f"/v1/accounts/{operating}/entries", headers=bookkeeper).status_code == 200
    api = bearer(app, world.users["compliance"], clock)
    (read,) = client.get("/v1/decisions", params={"action": "statement.read"}, headers=api).json()[
        "items"
    ]
    proposed = client.post("/v1/policy/versions", json=tighter_bookkeeper(), headers=api)
    assert proposed.status_code == 201
    vid = proposed.json()["id"]

    token = sign_in(client, "compliance")
    replay = client.post(f"/console/policy/versions/{vid}/impact", data={"csrf_token": token})
    assert replay.status_code == 200
    link = f'href="/console/decisions/{read["id"]}"'
    assert link in replay.text
    page = client.get(f"/console/decisions/{read['id']}")
    assert page.status_code == 200
    assert "statement.read" in page.text and 'id="decision-facts"' in page.text
    facts = page.text.split('id="decision-facts"')[1]
    assert f"&#34;id&#34;: {world.user_id('acme-bookkeeper')}" in facts  # ids, not names
    assert "&#34;now&#34;: &#34;dynamic:now&#34;" in facts
    assert "Acme Bookkeeper" not in facts
    assert client.get(f"/console/decisions/{read['id'] + 1000}").status_code == 404
    sign_in(client, "acme-admin")
    assert client.get(f"/console/decisions/{read['id']}").status_code == 404
