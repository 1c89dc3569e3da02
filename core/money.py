"""Currencies and amounts. Amounts are integers in minor units, never floats."""

from __future__ import annotations

import re
from decimal import Context, Decimal, DecimalException, localcontext

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
    return f"{_decimal_text(minor, currency, grouping=',')} {currency}"


def decimal_amount(minor: int, currency: str) -> str:
    """-5000000, "EUR" -> "-50000.00": the amount as files banks exchange write it (CSV,
    ISO 20022), a point before the currency's minor digits and no grouping."""
    return _decimal_text(minor, currency, grouping="")


def _decimal_text(minor: int, currency: str, *, grouping: str) -> str:
    exponent = MINOR_UNITS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    text = f"{whole:{grouping}}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    return f"{sign}{text}"


# What an amount may look like as text, checked before any arithmetic: Decimal takes
# "9e999997" happily and turning it into an int costs half a minute of CPU; "1e1000000"
# overflows. ASCII digits with an optional point and sign, at most MAX_AMOUNT_TEXT
# characters, and an exponent of at most two digits (str() of a float writes "1e+16").
MAX_AMOUNT_TEXT = 64
_EXACT = Context(prec=MAX_AMOUNT_TEXT + 110, Emax=999, Emin=-999)
_AMOUNT_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,2})?", re.ASCII)


def parse_amount(text: str, currency: str) -> int:
    """ "1,234.50" in EUR -> 123450 minor units. Raises ValueError for anything else,
    quickly, whatever the text: its length and exponent are bounded before it is read as a
    number."""
    exponent = MINOR_UNITS[currency]
    if len(text) > MAX_AMOUNT_TEXT:
        raise ValueError(f"an amount has at most {MAX_AMOUNT_TEXT} characters")
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    if not _AMOUNT_TEXT.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not an amount")
    try:
        # Exact for every text the pattern lets through (the default 28 digits would round).
        with localcontext(_EXACT):
            scaled = Decimal(cleaned).scaleb(exponent)
            whole = scaled == scaled.to_integral_value()
    except (DecimalException, ValueError) as exc:
        raise ValueError(f"{text!r} is not an amount") from exc
    if not whole:
        raise ValueError(f"{currency} has {exponent} decimal places")
    return int(scaled)
