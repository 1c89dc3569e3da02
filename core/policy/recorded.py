"""The facts a logged decision was made on, as the decision log keeps them: the request
decide/5 read (with its Dynamic placeholders) and the placeholders' values, each as compact
JSON. No database here.

JSON keeps every type the facts use apart: ints from floats, bools from ints, lists, dicts,
None, and strings with the Dynamic prefix (its NUL is written as the escape \\u0000, which a
PostgreSQL text column accepts, where a raw NUL would be refused). Tuples would come back as
lists; the facts hold none (core.policy.shaping builds lists), and the test of this module
holds a decoded request type-equal (marshal version 0) to the one decided on.

What the facts hold is minimized by construction: core.policy.shaping puts in ids, kinds,
levels, role keys and permission codes, currencies, amounts, limits, times as seconds or
minutes, weekdays and time-zone names, and booleans; never a name, an e-mail address, a
password or free text (a custom role is named by its id, "custom:12", not its label)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_DECODE = json.JSONDecoder().decode


def encode(request: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[str, str]:
    """The request and its values as the decision log keeps them."""
    return _ENCODER.encode(request), _ENCODER.encode(values)


def decode(request: str, values: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A logged decision's request and values, ready for PolicyEngine.decide."""
    return _DECODE(request), _DECODE(values)


def decode_part(text: str) -> Any:
    """One of the two (the request or the values), decoded."""
    return _DECODE(text)
