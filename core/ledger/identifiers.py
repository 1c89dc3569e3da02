"""Account identifiers: the IBANs the bank gives its customers' accounts, and the IBANs and
BICs customers type in, checked by schwifty (never by hand)."""

from __future__ import annotations

import secrets

from schwifty import BIC, IBAN
from schwifty.domain import Component
from schwifty.exceptions import SchwiftyException
from schwifty.registry import get_iban_spec

from core.errors import InvalidRequest

# The national account number is drawn at random, as long as the country's BBAN allows
# (10 digits in Germany): an IBAN says nothing of the account's id, and nobody can walk the
# bank's accounts by counting. The accounts table's unique IBAN makes a (rare) collision a
# retry, never a second account with one IBAN.


def random_account_number(country: str) -> int:
    """A national account number for a new account: random, of the country's length."""
    positions = get_iban_spec(country).positions[Component.ACCOUNT_CODE]
    digits = positions.end - positions.start
    return 10 ** (digits - 1) + secrets.randbelow(9 * 10 ** (digits - 1))


def account_iban(country: str, bank_code: str, account_number: int) -> str:
    """The IBAN of the bank's account with this national number (electronic form)."""
    return str(IBAN.generate(country, bank_code=bank_code, account_code=str(account_number)))


def parse_iban(text: str) -> str:
    """An IBAN as typed (spaces allowed, any case), checked: its electronic form, or 422
    invalid_iban saying what is wrong (length, country, check digits)."""
    try:
        return str(IBAN(text.strip()).compact)
    except SchwiftyException as exc:
        raise InvalidRequest(f"not a valid IBAN: {exc}", code="invalid_iban") from exc


def iban_problem(iban: str | None) -> str | None:
    """What is wrong with an IBAN as stored (electronic form), in words; None when it is
    valid. `mandate ledger check` asks this of every customer account."""
    if not iban:
        return "has no IBAN"
    try:
        compact = str(IBAN(iban).compact)
    except SchwiftyException as exc:
        return f"has an invalid IBAN {iban!r}: {exc}"
    if compact != iban:
        return f"has its IBAN {iban!r} not in electronic form ({compact})"
    return None


def parse_bic(text: str) -> str:
    """A BIC (8 or 11 characters), checked; 422 invalid_bic otherwise."""
    try:
        return str(BIC(text.strip().upper()))
    except SchwiftyException as exc:
        raise InvalidRequest(f"not a valid BIC: {exc}", code="invalid_bic") from exc


# Territories whose banks have BICs with their own country code but issue IBANs of the
# country they belong to (SWIFT's and the EPC's tables): a Guadeloupe bank pays into FR IBANs.
_IBAN_COUNTRY_OF_TERRITORY = {
    **dict.fromkeys(("GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"), "FR"),
    **dict.fromkeys(("JE", "GG", "IM"), "GB"),
    "AX": "FI",
}


def check_bic_matches_iban(bic: str, iban: str) -> None:
    """A BIC names a bank in one country; an account of that bank has an IBAN of the same
    country (or of the country its territory belongs to). Anything else is a typo that would
    send the payment to the wrong bank: 422 bic_country_mismatch."""
    bic_country = str(BIC(bic).country_code)
    iban_country = iban[:2]
    if _IBAN_COUNTRY_OF_TERRITORY.get(bic_country, bic_country) != iban_country:
        raise InvalidRequest(
            f"the BIC {bic} is a bank in {bic_country}, but the IBAN is of {iban_country}",
            code="bic_country_mismatch",
        )


def formatted(iban: str) -> str:
    """An IBAN in groups of four, as people read it."""
    return str(IBAN(iban, validate_bban=False).formatted)
