"""Helpers for console tests: signing in through the sign-in form, and reading the
anti-forgery token a page carries."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: TestClient, username: str, password: str = PASSWORD, code: str = "") -> str:
    """Sign `client` in to the console as `username` (with `code`, from their authenticator);
    returns the session's form token."""
    client.cookies.clear()
    client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={
            "username": username,
            "password": password,
            "code": code,
            "csrf_token": client.cookies.get("mandate_sign_in") or "",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return form_token(client, "/console/two-factor")


def attempt_sign_in(client: TestClient, username: str, password: str) -> object:
    """One sign-in attempt through the form (fresh form cookie), without asserting on it."""
    client.cookies.clear()
    client.get("/console/sign-in")
    return client.post(
        "/console/sign-in",
        data={
            "username": username,
            "password": password,
            "csrf_token": client.cookies.get("mandate_sign_in") or "",
        },
        follow_redirects=False,
    )


def form_token(client: TestClient, path: str = "/console/activity") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, "the page carries no form token"
    return found.group(1)
