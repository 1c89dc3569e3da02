"""The console's own security: sessions, sign-in rate limits, anti-forgery tokens, escaping
and headers."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from core.iam.attempts import ADDRESS_FAILURES, USER_FAILURES
from tests.admin.console import attempt_sign_in, form_token, sign_in
from tests.factories import PASSWORD


def test_pages_need_a_session_and_come_back_after_sign_in(client, world):
    answer = client.get("/console/accounts?cursor=x", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2Faccounts%3Fcursor%3Dx"

    client.get(answer.headers["location"])
    signed_in = client.post(
        "/console/sign-in",
        data={
            "username": "acme-payer",
            "password": PASSWORD,
            "csrf_token": client.cookies["mandate_sign_in"],
            "next": "/console/activity",
        },
        follow_redirects=False,
    )
    assert signed_in.headers["location"] == "/console/activity"


def test_sign_in_never_sends_you_to_another_site(client, world):
    for target in ("https://evil.example/", "//evil.example/console/", "/v1/accounts"):
        client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={
                "username": "acme-payer",
                "password": PASSWORD,
                "csrf_token": client.cookies["mandate_sign_in"],
                "next": target,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/console/", target


def test_the_session_cookie_is_httponly_lax_and_scoped(client, world):
    client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={
            "username": "acme-payer",
            "password": PASSWORD,
            "csrf_token": client.cookies["mandate_sign_in"],
        },
        follow_redirects=False,
    )
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("mandate_console=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "path=/console" in cookie.lower()
    assert "secure" not in attributes  # plain http here: a Secure cookie would never come back


def test_the_session_cookie_is_secure_over_https(app, world):
    with TestClient(app, base_url="https://testserver") as secure_client:
        secure_client.get("/console/sign-in")
        answer = secure_client.post(
            "/console/sign-in",
            data={
                "username": "acme-payer",
                "password": PASSWORD,
                "csrf_token": secure_client.cookies["mandate_sign_in"],
            },
            follow_redirects=False,
        )
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("mandate_console=")
    )
    assert "secure" in cookie.lower()


def test_failed_sign_ins_do_not_say_whether_the_user_exists(client, world):
    unknown = attempt_sign_in(client, "nobody-here", "whatever-password")
    wrong = attempt_sign_in(client, "acme-payer", "not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert _message(unknown.text) == _message(wrong.text) == "Unknown user or wrong password."


def _message(page: str) -> str:
    start = page.index('role="alert">') + len('role="alert">')
    return page[start : page.index("<", start)].strip()


def test_sign_in_is_rate_limited_per_user_whether_or_not_it_exists(client, world):
    for username in ("acme-payer", "nobody-here"):
        for _ in range(USER_FAILURES):
            assert attempt_sign_in(client, username, "wrong password").status_code == 401
        locked = attempt_sign_in(client, username, PASSWORD)
        assert locked.status_code == 429, username
        assert "Too many failed sign-ins" in locked.text
    # Another user from the same address is not locked out by them.
    assert attempt_sign_in(client, "acme-bookkeeper", PASSWORD).status_code == 303


def test_sign_in_is_rate_limited_per_address(client, world, clock):
    for n in range(ADDRESS_FAILURES):
        attempt_sign_in(client, f"guess-{n}", "wrong password")
    assert attempt_sign_in(client, "acme-payer", PASSWORD).status_code == 429
    clock.advance(minutes=16)
    assert attempt_sign_in(client, "acme-payer", PASSWORD).status_code == 303


def test_sign_in_form_needs_its_token(client, world):
    client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"username": "acme-payer", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert "mandate_console" not in client.cookies


def test_a_form_without_its_token_is_refused_and_changes_nothing(client, world):
    sign_in(client, "acme-admin")
    for token in (None, "not-the-token"):
        data = {
            "username": "sneaky-user",
            "display_name": "Sneaky",
            "password": "a long password 1",
        }
        if token is not None:
            data["csrf_token"] = token
        answer = client.post("/console/users", data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "expired" in answer.text
    users = client.get("/console/users").text
    assert "sneaky-user" not in users


def test_the_bank_settings_form_needs_its_token_and_changes_nothing(client, world):
    sign_in(client, "manager")
    for token in (None, "not-the-token"):
        data = {"dual_control": "true", "change_request_hours": "1", "dual_admin_trust_days": "0"}
        if token is not None:
            data["csrf_token"] = token
        answer = client.post("/console/bank-settings", data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "expired" in answer.text
    page = client.get("/console/bank-settings").text
    assert "No dual control" in page and "waits 72 hours" in page


def test_another_sessions_token_does_not_work(app, client, world):
    admin_token = sign_in(client, "acme-admin")
    with TestClient(app) as other:
        sign_in(other, "acme-admin")
        answer = other.post(
            "/console/users",
            data={
                "username": "sneaky-user",
                "display_name": "Sneaky",
                "password": "a long password 1",
                "csrf_token": admin_token,
            },
            follow_redirects=False,
        )
    assert answer.status_code == 403


def test_names_are_shown_as_text_never_run(client, world):
    token = sign_in(client, "acme-admin")
    created = client.post(
        "/console/users",
        data={
            "username": "xss-test",
            "display_name": "<script>alert('owned')</script>",
            "password": "a long password 1",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    for path in ("/console/users", created.headers["location"]):
        page = client.get(path).text
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page


def test_security_headers_on_console_pages(client, world):
    sign_in(client, "acme-payer")
    for path in ("/console/sign-in", "/console/accounts"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert client.get("/console/accounts").headers["cache-control"] == "no-store"


def test_htmx_is_served_from_the_console_itself(client, world):
    page = client.get("/console/sign-in").text
    assert 'src="/console/static/htmx.min.js"' in page
    assert "<script>" not in page  # inline scripts would be blocked by the CSP anyway
    htmx = client.get("/console/static/htmx.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:200]
    assert client.get("/console/static/htmx.LICENSE").status_code == 200


def test_sign_out_ends_the_session(client, world):
    token = sign_in(client, "acme-payer")
    cookie = client.cookies["mandate_console"]
    out = client.post("/console/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert "You are signed out." in client.get(out.headers["location"]).text
    client.cookies.set("mandate_console", cookie, path="/console")
    assert client.get("/console/accounts", follow_redirects=False).status_code == 303


def test_a_password_reset_ends_the_users_sessions(app, client, world, clock):
    with TestClient(app) as payer:
        sign_in(payer, "acme-payer")
        assert payer.get("/console/accounts", follow_redirects=False).status_code == 200
        token = sign_in(client, "acme-admin")
        clock.advance(seconds=1)
        reset = client.post(
            f"/console/users/{world.user_id('acme-payer')}/password",
            data={"password": "a brand new password", "csrf_token": token},
            follow_redirects=False,
        )
        assert reset.status_code == 303, reset.text
        assert payer.get("/console/accounts", follow_redirects=False).status_code == 303


def test_an_idle_session_expires(client, world, clock):
    sign_in(client, "acme-payer")
    clock.advance(minutes=20)
    assert client.get("/console/accounts", follow_redirects=False).status_code == 200
    clock.advance(minutes=20)  # used 20 minutes ago: still alive
    assert client.get("/console/accounts", follow_redirects=False).status_code == 200
    clock.advance(minutes=31)
    assert client.get("/console/accounts", follow_redirects=False).status_code == 303


def test_form_tokens_differ_between_sessions(app, client, world):
    first = sign_in(client, "acme-payer")
    with TestClient(app) as other:
        second = sign_in(other, "acme-payer")
    assert first != second
    assert first == form_token(client)


# -- another tenant's id answers in the console exactly as an id that does not exist --------

UNUSED_ID = 999_999
_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

CONSOLE_PROBES = [
    # (caller, method, path, form; X stands for the probed id, what X is)
    ("globex-admin", "GET", "/console/users/X", None, "user"),
    ("globex-admin", "POST", "/console/users/X/status", {"active": "false"}, "user"),
    (
        "globex-admin",
        "POST",
        "/console/users/X/password",
        {"password": "a long new password"},
        "user",
    ),
    ("globex-admin", "GET", "/console/roles/X", None, "role"),
    ("globex-admin", "POST", "/console/roles/X/delete", {}, "role"),
    ("globex-admin", "POST", "/console/grants", {"user_id": "@payer", "role_id": "X"}, "role"),
    ("globex-admin", "POST", "/console/grants", {"user_id": "X", "role_id": "@role"}, "user"),
    ("globex-admin", "POST", "/console/grants/X/revoke", {}, "grant"),
    ("globex-admin", "GET", "/console/users/@payer?action=account.read&account=X", None, "account"),
    ("globex-admin", "GET", "/console/accounts/X", None, "account"),
    ("globex-admin", "GET", "/console/tenants/X", None, "tenant"),
    ("globex-admin", "GET", "/console/transfers/X", None, "transfer"),
    (
        "globex-payer",
        "POST",
        "/console/transfers",
        {
            "from_account_id": "@main",
            "to_account_id": "X",
            "amount": "1.00",
            "idempotency_key": "console-probe",
        },
        "account",
    ),
]


def _console_answer(client, world, caller, method, path, form, target):  # type: ignore[no-untyped-def]
    fill = {
        "X": str(target),
        "@payer": str(world.user_id("globex-payer")),
        "@role": str(world.grants["globex-payer"].role_id),
        "@main": str(world.account_id("globex-main")),
    }
    for name, value in fill.items():
        path = path.replace(name, value)
    token = sign_in(client, caller)
    data = None
    if form is not None:
        data = {k: fill.get(v, v) for k, v in form.items()} | {"csrf_token": token}
        if "idempotency_key" in data:
            data["idempotency_key"] += f"-{target}"
    answer = client.request(method, path, data=data, follow_redirects=False)
    text = _KEY.sub("<key>", answer.text).replace(token, "<token>")
    return answer.status_code, text


def _normalised(answer: tuple[int, str], *ids: int) -> tuple[int, str]:
    """Both ids, wherever they stand alone, read as <id> (in both answers alike, so that a
    digit elsewhere on the page, like a "1" in a style, cannot tell them apart)."""
    status, text = answer
    for number in ids:
        text = re.sub(rf"(?<![\d]){number}(?![\d])", "<id>", text)
    return status, text


def test_another_tenants_id_answers_in_the_console_as_an_unused_id(client, world):
    targets = {
        "user": world.user_id("acme-payer"),
        "role": world.grants["acme-payer"].role_id,
        "grant": world.grants["acme-payer"].id,
        "account": world.account_id("acme-usd"),
        "tenant": world.tenants["acme"].id,
        "transfer": world.transfer_ids["acme"],
    }
    for caller, method, path, form, kind in CONSOLE_PROBES:
        ids = (targets[kind], UNUSED_ID)
        theirs = _normalised(
            _console_answer(client, world, caller, method, path, form, ids[0]), *ids
        )
        unused = _normalised(
            _console_answer(client, world, caller, method, path, form, ids[1]), *ids
        )
        assert theirs == unused, (caller, method, path, form)
        assert theirs[0] in (200, 404, 422), (path, theirs[0])
