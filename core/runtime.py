"""What a running Mandate process holds, built once at start-up (api.app.create_app) and
shared by both faces, the JSON API and the console: settings, the database, password
hashing, token signing and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.iam.credentials import Passwords, TokenService
from core.settings import Settings


@dataclass
class Services:
    """The process's runtime: what every request's work is done with."""

    settings: Settings
    db: Database
    passwords: Passwords
    tokens: TokenService
    clock: Clock
    # Called with (request, ctx) when a request's unit of work ends: tests use it to check
    # that every route asked the policy. The request is the web framework's.
    observers: list[Callable[[Any, RequestContext], None]] = field(default_factory=list)
