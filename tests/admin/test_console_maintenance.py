"""The console's maintenance page: bank managers announce a window and cancel it, compliance
reads them, customers find no such page; what is announced shows on every page's banner."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from core.models.operations import MaintenanceWindow
from tests.admin.console import form_token, sign_in


def _count(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count(MaintenanceWindow.id))) or 0)


def _form(clock, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    start = (clock.now() + dt.timedelta(days=2)).replace(tzinfo=None)
    return {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (start + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "mode": "read_only",
        "message": "Core banking upgrade.",
        **extra,
    }


def test_a_manager_announces_and_cancels_a_window_and_customers_see_the_banner(
    client, db, world, clock
):
    sign_in(client, "manager")
    token = form_token(client, "/console/maintenance-windows")
    made = client.post(
        "/console/maintenance-windows",
        data={"csrf_token": token, **_form(clock)},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    page = client.get("/console/maintenance-windows")
    assert "Core banking upgrade." in page.text and "Announced" in page.text
    sign_in(client, "acme-bookkeeper")
    home = client.get("/console/accounts")
    assert "Planned read-only maintenance" in home.text and "Core banking upgrade." in home.text
    assert client.get("/console/maintenance-windows").status_code == 404
    sign_in(client, "manager")
    token = form_token(client, "/console/maintenance-windows")
    with db.unit_of_work(write=False) as session:
        window_id = session.scalar(select(MaintenanceWindow.id))
    cancelled = client.post(
        f"/console/maintenance-windows/{window_id}/cancel",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    assert "Cancelled" in client.get("/console/maintenance-windows").text
    sign_in(client, "acme-bookkeeper")
    assert "maintenance-banner" not in client.get("/console/accounts").text


def test_a_window_the_form_cannot_take_is_shown_again_and_nothing_is_stored(
    client, db, world, clock
):
    sign_in(client, "manager")
    token = form_token(client, "/console/maintenance-windows")
    for wrong in (
        {"ends_at": ""},
        {"mode": "off"},
        {"message": ""},
        {"starts_at": "2020-01-01T00:00"},
    ):
        answer = client.post(
            "/console/maintenance-windows", data={"csrf_token": token, **_form(clock, **wrong)}
        )
        assert answer.status_code == 422, (wrong, answer.status_code)
    assert _count(db) == 0


def test_compliance_reads_the_windows_but_announces_none(client, db, world, clock):
    sign_in(client, "compliance")
    page = client.get("/console/maintenance-windows")
    assert page.status_code == 200 and "Announce a window" not in page.text
    token = form_token(client, "/console/maintenance-windows")
    refused = client.post(
        "/console/maintenance-windows", data={"csrf_token": token, **_form(clock)}
    )
    assert refused.status_code == 403
    assert _count(db) == 0
