"""Account identifiers (core.ledger.identifiers): what `mandate ledger check` says of a stored
IBAN. Pure: schwifty, no database."""

from __future__ import annotations

from core.ledger.identifiers import account_iban, iban_problem


def test_the_iban_the_bank_gives_an_account_is_valid():
    assert iban_problem(account_iban("DE", "10020030", 42)) is None
    assert iban_problem("DE89370400440532013000") is None


def test_a_stored_iban_that_is_missing_mistyped_or_not_compact_is_named():
    assert iban_problem(None) == "has no IBAN"
    assert iban_problem("") == "has no IBAN"
    assert iban_problem("DE00370400440532013000") == (
        "has an invalid IBAN 'DE00370400440532013000': Invalid checksum digits"
    )
    assert iban_problem("DE89 3704 0044 0532 0130 00") == (
        "has its IBAN 'DE89 3704 0044 0532 0130 00' not in electronic form (DE89370400440532013000)"
    )
