"""TOTP with an injected clock: a code is accepted one step either side of the clock's, never
further, and never twice (nor an older one after a newer); recovery codes and the secrets'
box. No database."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet

from core.clock import FixedClock
from core.iam import totp
from core.iam.totp import STEP_SECONDS, SecretBox

SECRET = totp.new_secret()
# The first second of a time step, so that edges are exact.
START = dt.datetime(2026, 11, 25, 9, 0, 0, tzinfo=dt.UTC)


def _at(clock: FixedClock, steps: int) -> str:
    return totp.code_at(SECRET, clock.now() + dt.timedelta(seconds=STEP_SECONDS * steps))


def test_the_window_is_one_step_either_side_of_the_clock():
    clock = FixedClock(START)
    now = totp.step_of(clock.now())
    assert totp.accepted_step(SECRET, _at(clock, 0), clock.now(), None) == now
    assert totp.accepted_step(SECRET, _at(clock, -1), clock.now(), None) == now - 1
    assert totp.accepted_step(SECRET, _at(clock, 1), clock.now(), None) == now + 1
    for steps in (-2, 2, -10):
        code = _at(clock, steps)
        if code not in {_at(clock, -1), _at(clock, 0), _at(clock, 1)}:
            assert totp.accepted_step(SECRET, code, clock.now(), None) is None, steps


def test_a_code_lapses_at_its_step_edge():
    clock = FixedClock(START)
    code = _at(clock, 0)
    # The last second of the next step: still one step late.
    clock.advance(seconds=2 * STEP_SECONDS - 1)
    assert totp.accepted_step(SECRET, code, clock.now(), None) == totp.step_of(START)
    # One second later: two steps late, refused.
    clock.advance(seconds=1)
    assert totp.step_of(clock.now()) == totp.step_of(START) + 2
    assert totp.accepted_step(SECRET, code, clock.now(), None) is None


def test_a_used_step_is_not_accepted_again_nor_an_older_one():
    clock = FixedClock(START)
    used = totp.accepted_step(SECRET, _at(clock, 0), clock.now(), None)
    assert used is not None
    assert totp.accepted_step(SECRET, _at(clock, 0), clock.now(), used) is None
    assert totp.accepted_step(SECRET, _at(clock, -1), clock.now(), used) is None
    assert totp.accepted_step(SECRET, _at(clock, 1), clock.now(), used) == used + 1
    # Thirty seconds on, the then current code is a new step: accepted.
    clock.advance(seconds=STEP_SECONDS)
    assert totp.accepted_step(SECRET, _at(clock, 0), clock.now(), used) == used + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 345"])
def test_what_is_no_code_is_refused(typed):
    assert totp.accepted_step(SECRET, typed, START, None) is None


def test_a_code_with_spaces_is_read_as_typed():
    code = totp.code_at(SECRET, START)
    assert totp.accepted_step(SECRET, f" {code[:3]} {code[3:]} ", START, None) is not None


def test_the_enrolment_uri_and_qr_code():
    uri = totp.provisioning_uri(SECRET, "acme-approver")
    assert uri.startswith("otpauth://totp/Mandate:acme-approver?")
    assert f"secret={SECRET}" in uri and "issuer=Mandate" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "viewBox" in svg and "<script" not in svg


def test_secrets_are_sealed_and_recovery_codes_keyed():
    box = SecretBox(Fernet.generate_key())
    sealed = box.seal(SECRET)
    assert SECRET not in sealed and box.open(sealed) == SECRET
    with pytest.raises(ValueError):
        SecretBox(Fernet.generate_key()).open(sealed)
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(totp.is_recovery_code(c) and len(c) == 11 and c[5] == "-" for c in codes)
    first = codes[0]
    assert box.recovery_digest(first) == box.recovery_digest(first.upper().replace("-", " "))
    assert box.recovery_digest(first) != SecretBox(Fernet.generate_key()).recovery_digest(first)


def test_the_key_file_is_created_once_private(tmp_path):
    path = tmp_path / "keys" / "second-factor-key"
    with pytest.raises(FileNotFoundError):
        totp.load_or_create_box(path, create=False)
    box = totp.load_or_create_box(path, create=True)
    assert path.stat().st_mode & 0o777 == 0o600
    again = totp.load_or_create_box(path, create=False)
    assert again.open(box.seal("x")) == "x"
