"""Policy versions through the API: propose (validated), diff, approve, activate with four
eyes, rollback, and the refusals: a broken proposal, a bad upload, the author approving or
activating, customers, wrong states."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.policy import engine as policy_engine
from core.settings import REPO_ROOT
from tests.factories import World, bearer
from tests.policy_versions_world import (
    broken_bookkeeper,
    bundled_files,
    second_officer,
    tighter_bookkeeper,
)

BUNDLED = policy_engine.PolicyEngine.version_of(REPO_ROOT / "policies")


@pytest.fixture
def staff(app, world: World, db, clock) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    second_officer(world, db, app.state.services.passwords, clock)
    return {
        name: bearer(app, world.users[name], clock)
        for name in ("compliance", "compliance-b", "manager", "acme-admin", "acme-bookkeeper")
    }


@pytest.fixture(autouse=True)
def _bundled_engine_after():  # type: ignore[no-untyped-def]
    # A test that switches this process's engine hands the next one the bundled files again.
    yield
    policy_engine.ensure_loaded(REPO_ROOT / "policies")


def _propose(client: TestClient, who: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post("/v1/policy/versions", json=body, headers=who)


def _versions(client: TestClient, who: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/v1/policy/versions", headers=who)
    assert response.status_code == 200, response.text
    return list(response.json())


def test_a_broken_proposal_is_refused_with_its_failing_case_and_nothing_is_stored(client, staff):
    response = _propose(client, staff["compliance"], broken_bookkeeper())
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "policy_invalid"
    assert body["failures"] == [
        {
            "file": "roles.yaml",
            "name": "a bookkeeper reads statements",
            "expected": "allow",
            "got": "deny: missing_permission",
        }
    ]
    assert "a bookkeeper reads statements" in body["detail"]
    assert _versions(client, staff["compliance"]) == []


def test_a_proposal_that_does_not_load_is_refused(client, staff):
    files = bundled_files()
    files["decide.polar"] += '\ndecide(request, "allow" if\n'
    response = _propose(client, staff["manager"], {"files": files})
    assert response.status_code == 422
    assert response.json()["error"] == "policy_invalid"
    assert "does not load" in response.json()["detail"]


def test_a_proposal_that_drops_a_builtin_role_is_refused(client, staff):
    files = bundled_files()
    vocabulary = files["vocabulary.polar"]
    start = vocabulary.index('builtin_role("approver"')
    end = vocabulary.index("\n", start)
    files["vocabulary.polar"] = vocabulary[:start] + vocabulary[end:]
    response = _propose(client, staff["manager"], {"files": files})
    assert response.status_code == 422
    report = response.json()["report"]
    assert "approver" in " ".join(report["missing_roles"] + report["dropped_roles"])


@pytest.mark.parametrize(
    "body",
    [
        {"files": {"../decide.polar": "x"}},
        {"files": {"decide.txt": "x"}},
        {"files": {}},
        {"files": {"a.polar": "x"}, "cases": {"tests/roles.yaml": "x"}},
        {"files": {"a.polar": "x" * 200_001}},
        {"files": {"a.polar": "x"}, "note": "n" * 501},
        # Loading this would abort the process (oso panics reporting the mistake after "—").
        {"files": {"a.polar": "# a \u2014 b\nallow(a, b, c) if\n"}},
    ],
)
def test_a_malformed_upload_is_422_and_changes_nothing(client, staff, body):
    response = _propose(client, staff["compliance"], body)
    assert response.status_code in (413, 422), response.text
    assert _versions(client, staff["compliance"]) == []


def test_a_huge_upload_is_413(client, staff):
    body = {"files": {f"f{i}.polar": "x" * 150_000 for i in range(8)}}
    response = _propose(client, staff["compliance"], body)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_four_eyes_from_proposal_to_activation_and_a_rollback(client, staff, world):
    compliance, second, manager = staff["compliance"], staff["compliance-b"], staff["manager"]
    proposed = _propose(client, compliance, tighter_bookkeeper())
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()
    assert version["status"] == "proposed" and version["author"] == "compliance"
    assert version["validation"]["replaced_case_files"] == ["roles.yaml"]
    vid = version["id"]

    again = _propose(client, second, tighter_bookkeeper())
    assert again.status_code == 409 and again.json()["error"] == "policy_version_exists"

    # The author can neither approve, reject nor activate it.
    for action in ("approve", "activate"):
        refused = client.post(f"/v1/policy/versions/{vid}/{action}", headers=compliance)
        if action == "approve":
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "self_approval_forbidden"
        else:
            assert refused.status_code == 409  # not approved yet
    refused = client.post(
        f"/v1/policy/versions/{vid}/reject", json={"reason": "mine"}, headers=compliance
    )
    assert refused.status_code == 403

    approved = client.post(f"/v1/policy/versions/{vid}/approve", headers=second)
    assert approved.status_code == 200 and approved.json()["approved_by"] == "compliance-b"
    twice = client.post(f"/v1/policy/versions/{vid}/approve", headers=manager)
    assert twice.status_code == 409 and twice.json()["error"] == "policy_version_not_pending"
    by_author = client.post(f"/v1/policy/versions/{vid}/activate", headers=compliance)
    assert by_author.status_code == 403 and by_author.json()["error"] == "self_approval_forbidden"

    activated = client.post(f"/v1/policy/versions/{vid}/activate", headers=second)
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"

    # This process switches when its watcher next looks (tests run no watcher thread).
    assert client.app.state.policy_watcher.sync()
    assert client.get("/healthz").json()["policy_version"] == version["hash"]
    entries = f"/v1/accounts/{world.account_id('acme-operating')}/entries"
    statement = client.get(entries, headers=staff["acme-bookkeeper"])
    assert statement.status_code == 404, statement.text  # the bookkeeper reads none now

    # Rollback: no version was stored before this one (the test database has none), so
    # propose the bundled files, then the same four eyes.
    bundled = _propose(client, manager, {"files": bundled_files(), "note": "back"})
    assert bundled.status_code == 201, bundled.text
    bid = bundled.json()["id"]
    assert client.post(f"/v1/policy/versions/{bid}/approve", headers=compliance).status_code == 200
    assert client.post(f"/v1/policy/versions/{bid}/activate", headers=compliance).status_code == 200
    assert client.app.state.policy_watcher.sync()
    assert client.get("/healthz").json()["policy_version"] == BUNDLED
    assert client.get(entries, headers=staff["acme-bookkeeper"]).status_code == 200

    # Version vid is retired now; putting it back in force needs a fresh approval, and
    # whoever gave it does not activate it alone.
    retired = client.get(f"/v1/policy/versions/{vid}", headers=manager).json()
    assert retired["status"] == "retired" and retired["was_active"]
    no_approval = client.post(f"/v1/policy/versions/{vid}/activate", headers=manager)
    assert no_approval.status_code == 409
    assert no_approval.json()["error"] == "policy_version_not_approved"
    assert client.post(f"/v1/policy/versions/{vid}/approve", headers=manager).status_code == 200
    alone = client.post(f"/v1/policy/versions/{vid}/activate", headers=manager)
    assert alone.status_code == 403 and alone.json()["error"] == "self_approval_forbidden"
    back = client.post(f"/v1/policy/versions/{vid}/activate", headers=second)
    assert back.status_code == 200, back.text

    changes = client.get("/v1/changes?entity=policy_version", headers=compliance).json()
    kinds = [(c["entity_id"], c["change"], c["actor_username"]) for c in changes["items"]]
    assert (vid, "proposed", "compliance") in kinds
    assert (vid, "approved", "compliance-b") in kinds
    assert (vid, "activated", "compliance-b") in kinds
    assert (vid, "rolled back to", "compliance-b") in kinds
    rollback = next(c for c in changes["items"] if c["change"] == "rolled back to")
    assert rollback["before"]["version_id"] == bid and rollback["after"]["version_id"] == vid


def test_the_diff_shows_the_changed_line_side_by_side(client, staff):
    first = _propose(client, staff["manager"], {"files": bundled_files()}).json()
    second = _propose(client, staff["compliance"], tighter_bookkeeper()).json()
    response = client.get(
        f"/v1/policy/versions/{second['id']}/diff?against={first['id']}",
        headers=staff["compliance-b"],
    )
    assert response.status_code == 200
    files = {f["name"]: f for f in response.json()["files"]}
    assert files["decide.polar"]["status"] == "unchanged"
    vocabulary = files["vocabulary.polar"]
    assert (vocabulary["status"], vocabulary["added"], vocabulary["removed"]) == ("changed", 1, 1)
    changed = [r for h in vocabulary["hunks"] for r in h["rows"] if r["kind"] != "equal"]
    assert len(changed) == 1 and changed[0]["kind"] == "changed"
    assert "statement.read" in changed[0]["left"] and "statement.read" not in changed[0]["right"]
    unknown = client.get(
        f"/v1/policy/versions/{second['id']}/diff?against=999999", headers=staff["compliance"]
    )
    assert unknown.status_code == 404


def test_customers_see_no_versions(client, staff):
    version = _propose(client, staff["manager"], {"files": bundled_files()}).json()
    for path in ("/v1/policy/versions", f"/v1/policy/versions/{version['id']}"):
        assert client.get(path, headers=staff["acme-admin"]).status_code == 404
    refused = client.post(
        f"/v1/policy/versions/{version['id']}/approve", headers=staff["acme-admin"]
    )
    assert refused.status_code == 404
    assert _propose(client, staff["acme-admin"], {"files": bundled_files()}).status_code == 404


def test_parallel_activations_leave_exactly_one_version_in_force(client, staff, backend):
    one = _propose(client, staff["manager"], {"files": bundled_files()}).json()
    two = _propose(client, staff["manager"], tighter_bookkeeper()).json()
    for vid in (one["id"], two["id"]):
        assert (
            client.post(f"/v1/policy/versions/{vid}/approve", headers=staff["compliance"])
        ).status_code == 200
    answers: list[int] = []

    def activate(vid: int) -> None:
        response = client.post(f"/v1/policy/versions/{vid}/activate", headers=staff["compliance-b"])
        answers.append(response.status_code)

    threads = [threading.Thread(target=activate, args=(v,)) for v in (one["id"], two["id"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 200]
    statuses = sorted(v["status"] for v in _versions(client, staff["compliance"]))
    assert statuses == ["active", "retired"]


def test_impact_replays_the_log_under_a_version(client, staff):
    version = _propose(client, staff["compliance"], tighter_bookkeeper()).json()
    response = client.post(
        f"/v1/policy/versions/{version['id']}/impact", json={}, headers=staff["compliance-b"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["policy_version"] == version["hash"]
    naive = client.post(
        f"/v1/policy/versions/{version['id']}/impact",
        json={"since": "2026-11-20T00:00:00"},
        headers=staff["compliance-b"],
    )
    assert naive.status_code == 422 and naive.json()["error"] == "naive_datetime"


def test_a_proposal_based_on_the_version_in_force_inherits_the_cases_it_replaced(client, staff):
    """A regression (the README's recipes run in order): a proposal made from the files of a
    version that had replaced a case file was held to the bundled case again, 422."""
    compliance, second = staff["compliance"], staff["compliance-b"]
    tighter = _propose(client, compliance, tighter_bookkeeper())
    assert tighter.status_code == 201, tighter.text
    vid = tighter.json()["id"]
    assert client.post(f"/v1/policy/versions/{vid}/approve", headers=second).status_code == 200
    assert client.post(f"/v1/policy/versions/{vid}/activate", headers=second).status_code == 200
    files = dict(tighter_bookkeeper()["files"])
    files["vocabulary.polar"] = files["vocabulary.polar"].replace(
        "pay beneficiaries from this account.",
        "pay beneficiaries from this account: ask your admin.",
    )
    assert files != tighter_bookkeeper()["files"]
    alone = _propose(client, compliance, {"files": files, "note": "words"})
    assert alone.status_code == 422 and alone.json()["error"] == "policy_invalid", alone.text
    # Of a version one cannot see, or none: not found; of an extension's proposal: refused.
    missing = _propose(client, compliance, {"files": files, "based_on": 999_999})
    assert missing.status_code == 404, missing.text
    extension = _propose(
        client, compliance, {"files": files, "based_on": vid, "tenant_id": 1, "note": "x"}
    )
    assert extension.status_code == 422, extension.text
    based = _propose(client, compliance, {"files": files, "based_on": vid, "note": "words"})
    assert based.status_code == 201, based.text
    assert based.json()["cases"] == tighter.json()["cases"]
