"""The console's policy per tenant: bank staff see who runs which version and which extension,
a version's rollout with each step's impact, promote-to-all and move-back (four eyes, the
author refused); a company's admins read their own rules in words, another company's admins
see none of them."""

from __future__ import annotations

import pytest

from core.policy import engine as policy_engine
from core.policy import registry
from core.settings import REPO_ROOT
from tests.admin.console import sign_in
from tests.factories import bearer
from tests.policy_versions_world import second_officer, tighter_bookkeeper, with_policy_in_force
from tests.tenant_policy_world import REASON, SENTENCE, friday_extension


@pytest.fixture(autouse=True)
def _back_to_the_files():  # type: ignore[no-untyped-def]
    yield
    registry.REGISTRY.clear()
    policy_engine.ensure_loaded(REPO_ROOT / "policies")


def test_rollout_steps_with_their_impact_promote_and_move_back(client, app, world, db, clock):
    second_officer(world, db, app.state.services.passwords, clock)
    with_policy_in_force(db, clock)
    acme, globex = world.tenants["acme"].id, world.tenants["globex"].id
    compliance = bearer(app, world.users["compliance"], clock)
    proposed = client.post("/v1/policy/versions", json=tighter_bookkeeper(), headers=compliance)
    vid = proposed.json()["id"]
    second = bearer(app, world.users["compliance-b"], clock)
    assert client.post(f"/v1/policy/versions/{vid}/approve", headers=second).status_code == 200

    # The author sees the rollout and its impact, and is refused the step.
    token = sign_in(client, "compliance")
    page = client.get("/console/policy/tenants")
    assert page.status_code == 200 and f'data-rollout="{vid}"' in page.text
    assert f'data-tenant="{acme}"' in page.text and f'data-tenant="{globex}"' in page.text
    impact = client.post(
        f"/console/policy/rollouts/{vid}/impact", data={"csrf_token": token, "tenants": [globex]}
    )
    assert impact.status_code == 200 and f'data-impact-tenant="{globex}"' in impact.text
    assert f'data-impact-tenant="{acme}"' not in impact.text
    refused = client.post(
        f"/console/policy/rollouts/{vid}/step", data={"csrf_token": token, "tenants": [globex]}
    )
    assert refused.status_code == 403 and "another person must put it in force" in refused.text

    # The second officer: Globex first, then all; then moves Globex back... to the default.
    token = sign_in(client, "compliance-b")
    nothing = client.post(f"/console/policy/rollouts/{vid}/step", data={"csrf_token": token})
    assert nothing.status_code == 422  # neither tenants ticked nor promote-to-all
    done = client.post(
        f"/console/policy/rollouts/{vid}/step",
        data={"csrf_token": token, "tenants": [globex]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = client.get("/console/policy/tenants")
    assert f'data-tenant="{globex}" data-version="{vid}" data-pinned="yes"' in page.text
    assert f'data-move-back="{globex}"' in page.text
    moved = client.post(
        f"/console/policy/tenants/{globex}/move-back",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert moved.status_code == 200 and "the tenant runs its new policy" in moved.text
    page = client.get("/console/policy/tenants")
    assert f'data-tenant="{globex}" data-version="{vid}"' not in page.text
    promoted = client.post(
        f"/console/policy/rollouts/{vid}/step",
        data={"csrf_token": token, "all": "yes"},
        follow_redirects=False,
    )
    assert promoted.status_code == 303
    page = client.get("/console/policy/tenants")
    assert f'data-tenant="{acme}" data-version="{vid}" data-pinned="no"' in page.text
    assert f'data-rollout="{vid}"' not in page.text  # in force for all: nothing left to roll out


def test_a_companys_admins_read_its_rules_in_words_and_nobody_elses(client, app, world, db, clock):
    second_officer(world, db, app.state.services.passwords, clock)
    with_policy_in_force(db, clock)
    acme = world.tenants["acme"].id
    manager = bearer(app, world.users["manager"], clock)
    version = client.post("/v1/policy/versions", json=friday_extension(acme), headers=manager)
    vid = version.json()["id"]
    compliance = bearer(app, world.users["compliance"], clock)
    for step in ("approve", "activate"):
        assert client.post(f"/v1/policy/versions/{vid}/{step}", headers=compliance).is_success

    sign_in(client, "compliance")
    page = client.get("/console/policy/tenants")
    assert f'data-drop-extension="{acme}"' in page.text and SENTENCE in page.text
    extension = client.get(f"/console/policy/versions/{vid}")
    assert 'id="extension-rules"' in extension.text and REASON in extension.text

    sign_in(client, "acme-admin")
    home = client.get("/console/company-rules")
    assert (
        home.status_code == 200 and SENTENCE in home.text and f'data-reason="{REASON}"' in home.text
    )
    assert 'href="/console/company-rules"' in home.text  # in the sidebar

    sign_in(client, "globex-admin")
    theirs = client.get("/console/company-rules")
    assert theirs.status_code == 200 and SENTENCE not in theirs.text
    assert "no rules of its own" in theirs.text
    assert client.get("/console/policy/tenants").status_code == 404
