"""Sign-in limits on both doors, the API's token endpoint and the console's form: a burst of
parallel guesses checks at most the limit of passwords, a lockout is not extended by the
attempts made during it, and a success does not leave earlier failures counting."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core.iam.attempts import USER_FAILURES, reserve_attempt
from tests.admin.console import attempt_sign_in
from tests.factories import PASSWORD

GUESSES = 40
# 1-based, as the issue tells it: the right password is the 35th guess.
RIGHT_GUESS = 35
WRONG = "not the password"
# What each door answers: signed in, wrong credentials, locked.
SIGNED_IN = {"api": 200, "console": 303}


class GatedPasswords:
    """Wraps Passwords.verify: counts the password checks and holds each one until every
    guess is either being checked or answered, so that all the checks overlap: the widest
    window a race between counting failures and recording them could have."""

    def __init__(self, verify: Callable[[str | None, str], bool], total: int) -> None:
        self._verify = verify
        self._total = total
        self._changed = threading.Condition()
        self.checks = 0
        self.answered = 0

    def verify(self, password_hash: str | None, password: str) -> bool:
        with self._changed:
            self.checks += 1
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.checks + self.answered >= self._total, timeout=30)
        return self._verify(password_hash, password)

    def note_answered(self) -> None:
        with self._changed:
            self.answered += 1
            self._changed.notify_all()

    def wait_for_checks(self, count: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.checks >= count, timeout=30)


def _guess_over_http(base_url: str, door: str, password: str) -> int:
    with httpx.Client(base_url=base_url, timeout=60, follow_redirects=False) as http:
        if door == "api":
            data = {"username": "acme-payer", "password": password}
            return http.post("/v1/auth/token", data=data).status_code
        http.get("/console/sign-in")
        form = {
            "username": "acme-payer",
            "password": password,
            "csrf_token": http.cookies.get("mandate_sign_in") or "",
        }
        return http.post("/console/sign-in", data=form).status_code


@pytest.mark.parametrize("door", ["api", "console"])
def test_forty_parallel_guesses_check_at_most_five_passwords(
    door, app, world, live_server, monkeypatch
):
    passwords = app.state.services.passwords
    gate = GatedPasswords(passwords.verify, GUESSES)
    monkeypatch.setattr(passwords, "verify", gate.verify)
    statuses: dict[int, int] = {}

    def guess(number: int) -> None:
        password = PASSWORD if number == RIGHT_GUESS else WRONG
        try:
            statuses[number] = _guess_over_http(live_server.url, door, password)
        finally:
            gate.note_answered()

    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        first = [pool.submit(guess, n) for n in range(1, RIGHT_GUESS)]
        # The right password comes while the first guesses are being checked.
        gate.wait_for_checks(USER_FAILURES)
        rest = [pool.submit(guess, n) for n in range(RIGHT_GUESS, GUESSES + 1)]
        for future in [*first, *rest]:
            future.result()

    assert gate.checks <= USER_FAILURES
    assert statuses[RIGHT_GUESS] == 429
    counts = Counter(statuses.values())
    assert counts[401] == gate.checks and counts[429] == GUESSES - gate.checks, counts


def _attempt(door: str, client, password: str) -> int:  # type: ignore[no-untyped-def]
    if door == "api":
        data = {"username": "acme-payer", "password": password}
        return int(client.post("/v1/auth/token", data=data).status_code)
    return int(attempt_sign_in(client, "acme-payer", password).status_code)  # type: ignore[attr-defined]


@pytest.mark.parametrize("door", ["api", "console"])
def test_attempts_during_a_lockout_do_not_extend_it(door, client, world, clock):
    for _ in range(USER_FAILURES):
        assert _attempt(door, client, WRONG) == 401
    for _ in range(3):
        clock.advance(minutes=4)
        assert _attempt(door, client, PASSWORD) == 429
        assert _attempt(door, client, WRONG) == 429
    clock.advance(minutes=3)  # 15 minutes after the failures that locked it
    assert _attempt(door, client, PASSWORD) == 429
    clock.advance(seconds=1)
    assert _attempt(door, client, PASSWORD) == SIGNED_IN[door]


@pytest.mark.parametrize("door", ["api", "console"])
def test_the_window_rolls_one_failure_at_a_time(door, client, world, clock):
    """Any 15 minutes hold at most five failed password checks of a username."""
    for _ in range(USER_FAILURES):
        assert _attempt(door, client, WRONG) == 401
        clock.advance(minutes=1)
    clock.advance(minutes=10, seconds=1)  # the first failure has left the window
    assert _attempt(door, client, WRONG) == 401
    assert _attempt(door, client, PASSWORD) == 429
    clock.advance(minutes=1)  # and now the second
    assert _attempt(door, client, PASSWORD) == SIGNED_IN[door]


@pytest.mark.parametrize("door", ["api", "console"])
def test_a_success_clears_the_failures_before_it(door, client, world, clock):
    for _ in range(2):
        for _ in range(USER_FAILURES - 1):
            assert _attempt(door, client, WRONG) == 401
        assert _attempt(door, client, PASSWORD) == SIGNED_IN[door]
    for _ in range(USER_FAILURES - 1):
        assert _attempt(door, client, WRONG) == 401
    assert _attempt(door, client, WRONG) == 401
    assert _attempt(door, client, PASSWORD) == 429


@pytest.mark.parametrize("door", ["api", "console"])
def test_a_reservation_never_settled_counts_as_a_failure(door, client, db, world, clock):
    """A sign-in that crashed between reserving its attempt and recording the outcome."""
    for _ in range(USER_FAILURES):
        reservation = db.run(lambda s: reserve_attempt(s, "acme-payer", "testclient", clock.now()))
        assert reservation.allowed
    assert _attempt(door, client, PASSWORD) == 429
    clock.advance(minutes=15, seconds=1)
    assert _attempt(door, client, PASSWORD) == SIGNED_IN[door]


def test_a_locked_token_request_says_when_to_try_again(client, world, clock):
    """The 429 carries Retry-After: the seconds until the oldest failure that keeps the count
    at the limit leaves the window, and attempts while locked do not move it."""
    form = {"username": "acme-payer", "password": WRONG}
    for _ in range(USER_FAILURES):
        assert client.post("/v1/auth/token", data=form).status_code == 401
        clock.advance(minutes=1)
    # The first failure was 5 minutes ago: it leaves the 15-minute window in 10 minutes.
    locked = client.post("/v1/auth/token", data={**form, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == str(10 * 60)
    clock.advance(minutes=4)
    again = client.post("/v1/auth/token", data=form)
    assert again.status_code == 429 and again.headers["retry-after"] == str(6 * 60)
    clock.advance(minutes=6, seconds=1)
    assert client.post("/v1/auth/token", data={**form, "password": PASSWORD}).status_code == 200
