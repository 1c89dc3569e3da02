"""What a running Mandate process holds, built once at start-up (api.app.create_app) and
shared by both faces, the JSON API and the console: settings, the database, password
hashing, token signing, the clock, the second factor's key, the audit key and the maintenance
windows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.audit.checkpoints import AuditKey
from core.batches import service as batches
from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.iam.credentials import Passwords, TokenService, load_or_create_signing_key
from core.iam.totp import SecretBox
from core.ledger import debits
from core.operations.schedule import MaintenanceSchedule
from core.payments import service as payments
from core.settings import Settings


def compose() -> None:
    """Wire the domains that may not import each other (.importlinter): before the ledger
    debits an account, core.payments settles what is due on it (core.ledger.debits). Called
    once per process by the composition root (api.app.create_app); again, it changes
    nothing. Payment batches settle too: their lapsed ones release their holds."""
    debits.register("payments", payments.settle_before_debit)
    debits.register("batches", batches.settle_before_debit)


def load_audit_key(settings: Settings) -> AuditKey:
    """The audit signing key at MANDATE_AUDIT_KEY_PATH; created if missing, except in
    production (where settings refuse to load without it)."""
    assert settings.audit_key_path is not None
    private_key = load_or_create_signing_key(
        settings.audit_key_path, create=settings.environment != "production"
    )
    return AuditKey(private_key)


@dataclass
class Services:
    """The process's runtime: what every request's work is done with."""

    settings: Settings
    db: Database
    passwords: Passwords
    tokens: TokenService
    clock: Clock
    # Seals the TOTP secrets kept in the database, and keys the recovery codes' digests.
    box: SecretBox
    # Signs the audit chains' checkpoints and export bundles (core.audit.checkpoints).
    audit_key: AuditKey
    # What this process knows of the maintenance windows (read again every few seconds).
    maintenance: MaintenanceSchedule
    # Called with (request, ctx) when a request's unit of work ends: tests use it to check
    # that every route asked the policy. The request is the web framework's.
    observers: list[Callable[[Any, RequestContext], None]] = field(default_factory=list)
