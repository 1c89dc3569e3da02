"""The account page offers last month's statement as camt.053 and CSV: the files are the
API's export, behind the console's sign-in; another company's account is not found."""

from __future__ import annotations

from tests.admin.console import sign_in
from tests.statement_files import read_camt053, read_csv


def test_the_statement_card_downloads_the_files(client, world):  # type: ignore[no-untyped-def]
    sign_in(client, "acme-bookkeeper")
    account_id = world.account_id("acme-operating")
    page = client.get(f"/console/accounts/{account_id}")
    assert page.status_code == 200
    # The test clock is in November 2026: the form offers October, in Berlin.
    assert 'value="2026-10-01"' in page.text and 'value="2026-10-31"' in page.text
    assert f"/console/accounts/{account_id}/statement-file" in page.text
    url = f"/console/accounts/{account_id}/statement-file"
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    camt = client.get(url, params={**period, "format": "camt053"})
    assert camt.status_code == 200 and "attachment" in camt.headers["content-disposition"]
    read = read_camt053(camt.content)
    assert read["closing"] == world.accounts["acme-operating"].balance
    [row] = read_csv(client.get(url, params={**period, "format": "csv"}).content)
    assert int(row["transfer_id"]) == read["entries"][0]["transfer_id"]


def test_another_companys_account_is_not_found(client, world):  # type: ignore[no-untyped-def]
    sign_in(client, "globex-admin")
    account_id = world.account_id("acme-operating")
    answer = client.get(
        f"/console/accounts/{account_id}/statement-file",
        params={"from": "2026-11-01", "to": "2026-11-30"},
    )
    assert answer.status_code == 404
    assert "BkToCstmrStmt" not in answer.text
