"""Currencies and amounts. Amounts are integers in minor units, never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Active ISO 4217 currencies and their minor units (fund codes and precious metals left out:
# accounts hold spendable money).
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
    "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR "
    "LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD "
    "PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG"
)

MINOR_UNITS: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMALS.split()},
    **{code: 2 for code in _TWO_DECIMALS.split()},
    **{code: 3 for code in _THREE_DECIMALS.split()},
}

# The largest amount (and overdraft limit) accepted, in minor units: 10^15 keeps every sum
# of amounts Mandate will ever add far inside a signed 64-bit integer.
MAX_AMOUNT = 10**15


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def unknown_currency(code: str) -> str:
    """Why `code` is refused, with the way to write it. Codes are upper case, as ISO 4217
    writes them; "eur" is refused (not guessed) like any other code that is not one."""
    shown = code[:10]
    if code.upper() in MINOR_UNITS:
        return (
            f"{shown} is not an ISO 4217 code: codes are three upper-case letters "
            f"(did you mean {code.upper()}?)"
        )
    return f"{shown} is not an active ISO 4217 currency (three upper-case letters, e.g. EUR)"


def format_amount(minor: int, currency: str) -> str:
    """5000000, "EUR" -> "50,000.00 EUR"."""
    exponent = MINOR_UNITS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    text = f"{whole:,}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    return f"{sign}{text} {currency}"


def parse_amount(text: str, currency: str) -> int:
    """ "1,234.50" in EUR -> 123450 minor units. Raises ValueError for anything else."""
    exponent = MINOR_UNITS[currency]
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} has {exponent} decimal places")
    return int(scaled)
