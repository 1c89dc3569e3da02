"""The console's pages over HTTP: each person sees what the policy lets them see, forms go
through the same services as the API, refusals are shown next to their field and recorded."""

from __future__ import annotations

import csv
import io
import re

import psycopg
import sqlalchemy.exc
from starlette.routing import Mount

from core.ledger import movements
from tests.admin.console import form_token, sign_in
from tests.api.routes import api_routes, fill, ids_of
from tests.batches_world import with_pending_batch
from tests.factories import bearer
from tests.governance_world import with_change_request
from tests.oauth_world import with_api_client
from tests.operations_world import with_maintenance_window
from tests.payments_world import build_payments_world

# Console routes anyone may call: the sign-in form.
PUBLIC = {("GET", "/sign-in"), ("POST", "/sign-in")}
# Required query parameters, per console route.
QUERIES = {
    "/grants/new": "user={user_id}",
    "/accounts/{account_id}/statement-file": "from=2026-11-01&to=2026-11-30",
}
IDEMPOTENCY_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def console_app(app):  # type: ignore[no-untyped-def]
    return next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/console")


def test_every_console_page_needs_a_session_and_asks_the_policy(client, app, db, world, clock):
    routes = api_routes(console_app(app))
    assert len(routes) > 20
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    made = client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": 20_000_00,
            "currency": "EUR",
        },
        headers={**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": "pages"},
    )
    assert made.status_code == 202, made.text
    with_change_request(db, app.state.services.passwords, world, clock)
    with_pending_batch(db, app.state.services.passwords, world, clock, pw)
    with_maintenance_window(db, world, clock)
    ids = {**ids_of(world, "acme"), "payment_id": made.json()["id"]}
    calls = [
        (
            method,
            r.path,
            fill(r.path, ids) + (f"?{QUERIES[r.path].format(**ids)}" if r.path in QUERIES else ""),
        )
        for r in routes
        for method in sorted(r.methods - {"HEAD", "OPTIONS"})
        if (method, r.path) not in PUBLIC
    ]
    for method, template, path in calls:
        answer = client.request(method, f"/console{path}", follow_redirects=False)
        assert answer.status_code == 303, (method, template)
        assert answer.headers["location"].startswith("/console/sign-in"), (method, template)

    asked: list[int] = []
    app.state.services.observers.append(lambda request, ctx: asked.append(ctx.policy_queries))
    unasked = []
    for username in ("manager", "compliance", "acme-admin", "acme-payer", "acme-approver-a"):
        sign_in(client, username)
        for method, template, path in calls:
            if method != "GET":
                continue
            asked.clear()
            answer = client.get(f"/console{path}", follow_redirects=False)
            assert answer.status_code < 500, (username, template)
            if not asked or asked[-1] == 0:
                unasked.append((username, template, answer.status_code))
    assert not unasked, f"console pages answered without asking the policy: {unasked}"


def test_the_console_is_not_part_of_the_api_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def _nav(page: str) -> str:
    return page[page.index('aria-label="Sections"') : page.index("</nav>")]


def test_the_bookkeeper_reads_statements_but_gets_no_transfer_form(client, world):
    token = sign_in(client, "acme-bookkeeper")
    operating = world.account_id("acme-operating")
    accounts = client.get("/console/accounts").text
    assert "acme-operating" in accounts and "1,000,000.00 EUR" in accounts
    assert "New transfer" not in _nav(accounts)
    page = client.get(f"/console/accounts/{operating}").text
    assert "Statement" in page and "+1,000,000.00 EUR" in page
    assert "Send money" not in page
    form = client.get("/console/transfers/new").text
    assert "None of your grants lets you send transfers" in form
    assert 'id="transfer-form"' not in form
    sent = client.post(
        "/console/transfers",
        data={
            "csrf_token": token,
            "from_account_id": operating,
            "to_account_id": world.account_id("acme-payroll"),
            "amount": "10.00",
            "idempotency_key": "bookkeeper-try",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 422
    assert "None of your grants lets you send transfers" in sent.text
    statement = client.get(f"/console/accounts/{operating}").text
    assert "10.00 EUR" not in statement


def _transfer_form(client) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    page = client.get("/console/transfers/new").text
    key = IDEMPOTENCY_KEY.search(page)
    assert key
    return form_token(client), key.group(1)


def test_a_transfer_form_sent_twice_makes_one_transfer(client, world):
    sign_in(client, "acme-payer")
    token, key = _transfer_form(client)
    data = {
        "csrf_token": token,
        "idempotency_key": key,
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": "1,234.50",
        "description": "Twice sent",
    }
    first = client.post("/console/transfers", data=data, follow_redirects=False)
    second = client.post("/console/transfers", data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"].endswith("done=posted")
    assert second.headers["location"].endswith("done=replayed")
    assert first.headers["location"].split("?")[0] == second.headers["location"].split("?")[0]
    status = client.get(second.headers["location"]).text
    assert "1,234.50 EUR" in status and "made once and not again" in status
    statement = client.get(f"/console/accounts/{world.account_id('acme-payroll')}").text
    assert statement.count("Twice sent") == 1
    assert "101,234.50 EUR" in statement


def test_amounts_are_typed_as_decimals_in_the_accounts_currency(client, world):
    sign_in(client, "acme-payer")
    token, key = _transfer_form(client)
    base = {
        "csrf_token": token,
        "idempotency_key": key,
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
    }
    for typed, message in (
        ("12.345", "EUR has 2 decimal places."),
        ("twelve", "Enter an amount like 1,250.00."),
        ("-5", "Enter an amount greater than zero."),
        ("", "Enter an amount."),
    ):
        answer = client.post("/console/transfers", data={**base, "amount": typed})
        assert answer.status_code == 422, typed
        assert message in answer.text, typed
        # The form comes back with what was typed, and with the same key.
        assert f'value="{key}"' in answer.text
    usd = client.post(
        "/console/transfers",
        data={**base, "amount": "10.00", "to_account_id": world.account_id("acme-usd")},
    )
    assert usd.status_code == 422
    assert "in USD" in usd.text


def _give_limited_role(client, world, username: str, **fields: str) -> object:  # type: ignore[no-untyped-def]
    """As acme-admin: create `username` and give them the built-in payer role with `fields`."""
    token = sign_in(client, "acme-admin")
    created = client.post(
        "/console/users",
        data={
            "username": username,
            "display_name": username.title(),
            "password": "clerk password 123",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    user_id = int(created.headers["location"].split("/")[-1].split("?")[0])
    roles = client.get("/console/roles").text
    payer_role = re.search(r'href="/console/roles/(\d+)">Payer<', roles)
    assert payer_role
    return client.post(
        "/console/grants",
        data={
            "csrf_token": token,
            "user_id": str(user_id),
            "role_id": payer_role.group(1),
            "scope": "all",
            "limit_currency": "EUR",
            **fields,
        },
        follow_redirects=False,
    )


def test_a_refused_transfer_shows_why_and_is_recorded(client, world):
    granted = _give_limited_role(
        client,
        world,
        "clerk",
        daily="1,000.00",
        days=["mon", "tue", "wed", "thu", "fri"],  # type: ignore[arg-type]
        window_start="09:00",
        window_end="17:00",
        window_zone="Europe/Berlin",
    )
    assert granted.status_code == 303, granted.text
    user_page = client.get(granted.headers["location"]).text
    assert "Daily 1,000.00 EUR" in user_page
    assert "Mon, Tue, Wed, Thu, Fri 09:00–17:00 Europe/Berlin" in user_page

    sign_in(client, "clerk", "clerk password 123")
    token, key = _transfer_form(client)
    base = {
        "csrf_token": token,
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
    }
    ok = client.post(
        "/console/transfers",
        data={**base, "amount": "600.00", "idempotency_key": key},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    _, key = _transfer_form(client)
    refused = client.post(
        "/console/transfers", data={**base, "amount": "600.00", "idempotency_key": key}
    )
    assert refused.status_code == 403
    amount_field = refused.text[refused.text.index('id="f-amount"') :]
    reason = amount_field[: amount_field.index("</div>", amount_field.index('class="error"'))]
    assert "Daily limit 1,000.00 EUR (set by your grant): 600.00 EUR already sent today" in reason

    activity = client.get("/console/activity").text
    assert "Refused" in activity
    assert "Daily limit 1,000.00 EUR" in activity

    sign_in(client, "compliance")
    log = client.get("/console/decisions", params={"decision": "deny", "reason": "limit_daily"})
    assert "Clerk (clerk)" in log.text and "limit_daily" in log.text
    exported = client.get(
        "/console/decisions.csv", params={"decision": "deny", "reason": "limit_daily"}
    )
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 1
    assert rows[0]["actor"] == "Clerk (clerk)"
    assert rows[0]["amount"] == "600.00" and rows[0]["reason"] == "limit_daily"


def test_a_grant_over_the_cap_is_refused_next_to_the_field(client, world):
    token = sign_in(client, "manager")
    acme = world.tenants["acme"].id
    capped = client.post(
        f"/console/tenants/{acme}/caps",
        data={"csrf_token": token, "currency": "EUR", "daily": "5,000.00"},
        follow_redirects=False,
    )
    assert capped.status_code == 303, capped.text

    refused = _give_limited_role(client, world, "bigspender", daily="10,000.00")
    assert refused.status_code == 403
    daily_field = refused.text[refused.text.index('id="f-daily"') :]
    daily_field = daily_field[: daily_field.index("</fieldset>")]
    assert "Company cap: <strong>5,000.00 EUR</strong>" in daily_field
    assert "Daily limit asked for is above your company&#39;s cap of 5,000.00 EUR." in daily_field
    # What was typed is still there to correct.
    assert 'value="10,000.00"' in daily_field
    people = client.get("/console/users").text
    user_id = re.search(r'href="/console/users/(\d+)">Bigspender<', people)
    assert user_id
    assert (
        "No roles: this person can do nothing yet."
        in client.get(f"/console/users/{user_id.group(1)}").text
    )


def test_a_custom_role_is_composed_from_the_vocabulary(client, world):
    token = sign_in(client, "acme-admin")
    form = client.get("/console/roles/new").text
    assert 'value="user.manage"' not in form  # managing access is not composable
    created = client.post(
        "/console/roles",
        data={
            "csrf_token": token,
            "name": "Payroll clerk",
            "description": "Pays salaries",
            "permissions": ["account.read", "statement.read", "transfer.create"],
            "limit_currency": "EUR",
            "per_transfer": "5,000.00",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    page = client.get(created.headers["location"]).text
    assert "Role created." in page
    assert 'value="5000.00"' in page
    builtin = re.search(
        r'href="/console/roles/(\d+)">Bookkeeper<', client.get("/console/roles").text
    )
    assert builtin
    read_only = client.get(f"/console/roles/{builtin.group(1)}").text
    assert (
        "read-only" in read_only and '<form method="post" action="/console/roles/' not in read_only
    )
    unknown = client.post(
        "/console/roles",
        data={"csrf_token": token, "name": "Sneaky", "permissions": ["grant.manage"]},
    )
    assert unknown.status_code == 422
    assert "not permissions a custom role can carry" in unknown.text.lower()


def test_try_it_explains_without_saving(client, world):
    sign_in(client, "acme-admin")
    payer = world.user_id("acme-payer")
    page = client.get(
        f"/console/users/{payer}",
        params={
            "action": "transfer.create",
            "account": world.account_id("acme-operating"),
            "amount": "2,500.00",
            "at": "2026-11-28T10:00",  # a Saturday
        },
    ).text
    assert "What can this person do?" in page
    result = page[page.index('id="try-result"') :]
    assert "Allowed" in result  # the world's payer grant has no window or limits
    assert "Role carries the permission" in result


def test_people_of_another_company_are_not_found(client, world):
    sign_in(client, "globex-admin")
    answer = client.get(f"/console/users/{world.user_id('acme-payer')}")
    assert answer.status_code == 404
    assert "Not found" in answer.text
    answer = client.get(f"/console/accounts/{world.account_id('acme-operating')}")
    assert answer.status_code == 404


def test_statements_page_through_older_entries(client, world):
    token = sign_in(client, "manager")
    payroll = world.account_id("acme-payroll")
    page = client.get(f"/console/accounts/{payroll}").text
    for n in range(30):
        key = IDEMPOTENCY_KEY.search(page)
        assert key
        posted = client.post(
            f"/console/accounts/{payroll}/deposits",
            data={
                "csrf_token": token,
                "idempotency_key": key.group(1),
                "amount": f"{n + 1}.00",
                "description": f"Deposit {n + 1}",
            },
            follow_redirects=False,
        )
        assert posted.status_code == 303, posted.text
        page = client.get(posted.headers["location"]).text
    assert "Deposit posted." in page
    assert "Deposit 30" in page and not re.search(r"Deposit 5(?!\d)", page)
    older = re.search(r'href="(/console/accounts/\d+\?cursor=[^"]+)" rel="next"', page)
    assert older
    second = client.get(older.group(1).replace("&amp;", "&")).text
    assert re.search(r"Deposit 5(?!\d)", second) and "Deposit 30" not in second


def test_the_bank_manager_freezes_and_unfreezes_an_account(client, world):
    token = sign_in(client, "manager")
    operating = world.account_id("acme-operating")
    frozen = client.post(
        f"/console/accounts/{operating}/status",
        data={"csrf_token": token, "status": "frozen"},
        follow_redirects=False,
    )
    assert frozen.status_code == 303
    assert "Unfreeze account" in client.get(frozen.headers["location"]).text

    payer_token = sign_in(client, "acme-payer")
    _, key = _transfer_form(client)
    refused = client.post(
        "/console/transfers",
        data={
            "csrf_token": payer_token,
            "idempotency_key": key,
            "from_account_id": operating,
            "to_account_id": world.account_id("acme-payroll"),
            "amount": "1.00",
        },
    )
    assert refused.status_code == 409
    assert f"account {operating} is frozen" in refused.text.lower()

    token = sign_in(client, "manager")
    opened = client.post(
        f"/console/accounts/{operating}/status",
        data={"csrf_token": token, "status": "open"},
        follow_redirects=False,
    )
    assert "Freeze account" in client.get(opened.headers["location"]).text


def test_compliance_reads_the_policy_and_the_change_log(client, world):
    sign_in(client, "acme-admin")
    _give_limited_role(client, world, "audited", per_transfer="100.00")
    sign_in(client, "compliance")
    policy = client.get("/console/policy").text
    assert "decide.polar" in policy and "vocabulary.polar" in policy
    assert 'id="policy-version"' in policy
    changes = client.get("/console/changes", params={"entity": "grant"}).text
    assert "Acme Admin (acme-admin)" in changes
    assert "Grant no." in changes and "<ins>" in changes
    # Compliance moves nothing: the manager's pages are not theirs.
    assert client.get("/console/tenants").status_code == 200
    assert "Onboard a customer" not in client.get("/console/tenants").text


def test_the_grant_form_takes_24_00_as_the_end_of_the_day(client, world):
    granted = _give_limited_role(
        client,
        world,
        "night-clerk",
        daily="1,000.00",
        days=["mon", "tue", "wed", "thu", "fri"],  # type: ignore[arg-type]
        window_start="00:00",
        window_end="24:00",
        window_zone="Europe/Berlin",
    )
    assert granted.status_code == 303, granted.text  # type: ignore[attr-defined]
    person = client.get(granted.headers["location"]).text  # type: ignore[attr-defined]
    assert "00:00–24:00 Europe/Berlin" in person
    form = client.get(f"/console/grants/new?user={world.user_id('acme-bookkeeper')}").text
    assert "24:00 is the end of the day" in form


def test_the_try_it_box_reads_its_time_in_the_companys_zone_and_says_so(client, app, world, clock):
    """A datetime-local field has no offset: the console reads it in the company's zone (never
    as UTC) and labels the field with that zone."""
    window = {"days": ["wed"], "start": "09:00", "end": "17:00", "time_zone": "Europe/Berlin"}
    admin = bearer(app, world.users["acme-admin"], clock)
    patched = client.patch(
        f"/v1/grants/{world.grants['acme-payer'].id}", json={"window": window}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    sign_in(client, "acme-admin")
    asked = {"action": "transfer.create", "account": world.account_id("acme-operating")}
    page = f"/console/users/{world.user_id('acme-payer')}"
    # 08:30 in Berlin is before the window; 08:30 UTC would be 09:30 in Berlin, inside it.
    early = client.get(page, params={**asked, "amount": "10.00", "at": "2026-11-25T08:30"})
    assert "At (Europe/Berlin)" in early.text
    answer = early.text.split("Ask the policy")[1]
    assert "Wed 09:00–17:00 Europe/Berlin" in answer and "Allowed." not in answer, answer
    inside = client.get(page, params={**asked, "amount": "10.00", "at": "2026-11-25T09:30"})
    assert "Allowed." in inside.text.split("Ask the policy")[1]


def test_a_role_deleted_in_the_console_is_gone_from_it(client, app, world, clock):
    """Even a role that was once granted (its revoked grant keeps naming it)."""
    token = sign_in(client, "acme-admin")
    created = client.post(
        "/console/roles",
        data={"csrf_token": token, "name": "Temp clerk", "permissions": ["account.read"]},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    role_path = created.headers["location"].split("?")[0]
    assert client.get(role_path).status_code == 200
    admin = bearer(app, world.users["acme-admin"], clock)
    grant = client.post(
        "/v1/grants",
        json={
            "user_id": world.user_id("acme-bookkeeper"),
            "role_id": int(role_path.split("/")[-1]),
        },
        headers=admin,
    )
    assert grant.status_code == 201, grant.text
    assert client.delete(f"/v1/grants/{grant.json()['id']}", headers=admin).status_code == 200
    deleted = client.post(f"{role_path}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert deleted.status_code == 303, deleted.text
    assert "Temp clerk" not in client.get("/console/roles").text
    assert client.get(role_path).status_code == 404
    again = client.post(f"{role_path}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 404


def test_a_deadlocked_console_transfer_is_run_again_and_posted_once(client, world, monkeypatch):  # type: ignore[no-untyped-def]
    real = movements._move_money
    calls = {"n": 0}

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            orig = psycopg.errors.DeadlockDetected("deadlock detected")
            raise sqlalchemy.exc.OperationalError("UPDATE accounts ...", {}, orig)
        return real(*args, **kwargs)

    monkeypatch.setattr(movements, "_move_money", flaky)
    sign_in(client, "acme-payer")
    token, key = _transfer_form(client)
    data = {
        "csrf_token": token,
        "idempotency_key": key,
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": "12.00",
        "description": "Deadlocked once",
    }
    answer = client.post("/console/transfers", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith("done=posted")
    assert calls["n"] == 2
    statement = client.get(f"/console/accounts/{world.account_id('acme-payroll')}").text
    assert statement.count("Deadlocked once") == 1


def test_the_users_page_marks_api_clients(client, app, db, world, clock):
    with_api_client(db, world, clock)
    sign_in(client, "acme-admin")
    page = client.get("/console/users").text
    rows = {row.split("</a>")[0].rsplit(">", 1)[-1]: row for row in page.split("<tr>")[2:]}
    assert "API client" in rows["Acme ERP"]
    assert "API client" not in rows[world.users["acme-payer"].display_name]
