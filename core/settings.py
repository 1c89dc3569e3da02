"""All configuration, read from the environment (prefix MANDATE_) or a .env file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import bundled

# The source checkout (tests, benchmarks and `make run` use it); an installed wheel has none.
REPO_ROOT = bundled.CHECKOUT_ROOT


def _default_data_dir() -> Path:
    # Secrets live outside the repository: the XDG data directory of the user running Mandate.
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mandate"


def _default_database_url() -> str:
    # A checkout keeps its demo database in var/ (gitignored); an installed Mandate keeps it
    # beside the signing key, never inside site-packages.
    folder = REPO_ROOT / "var" if bundled.is_checkout() else _default_data_dir()
    return f"sqlite:///{folder / 'mandate.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MANDATE_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(default_factory=_default_database_url)
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # The database is reached through PgBouncer in transaction pooling mode: no prepared
    # statements, no LISTEN (policy reload by polling). Session pooling needs none of this.
    database_transaction_pooling: bool = False

    # Ed25519 private key (PEM) that signs access tokens; created on first run in development.
    token_key_path: Path = Field(
        default_factory=lambda: _default_data_dir() / "token-signing-key.pem"
    )
    token_lifetime_seconds: int = Field(default=900, ge=30, le=86_400)
    token_issuer: str = "mandate"
    token_audience: str = "mandate-api"
    # The token endpoint's URL as API clients address it: the "aud" their assertions must
    # carry (RFC 7523), and what the metadata names. Unset: public_url's /v1/auth/token; with
    # neither, outside production only, the URL each request came to (which a client chooses
    # by its Host header: production refuses to start so).
    token_endpoint_url: str | None = None
    # The OAuth 2.0 password grant (a person's username and password at POST /v1/auth/token,
    # the /docs Authorize button): unset, on except in production, where people sign in at
    # the console and machines use client credentials.
    password_grant: bool | None = None
    # The key that encrypts TOTP secrets at rest and keys the recovery codes' digests
    # (core.iam.totp); unset: "second-factor-key" beside the token-signing key. Created on
    # first run in development, like that key.
    second_factor_key_path: Path | None = None
    # The Ed25519 key that signs the audit chains' checkpoints and export bundles
    # (core.audit.checkpoints), not the token key; unset: "audit-signing-key.pem" beside the
    # token-signing key. Created on first run in development, like that key.
    audit_key_path: Path | None = None
    # Each API process signs a checkpoint of every chain that moved this often (seconds;
    # core.audit.periodic), one per chain per interval however many processes run; 0: off
    # (then `mandate audit checkpoint`, purge and export take them).
    audit_checkpoint_seconds: int = Field(default=60, ge=0, le=86_400)

    # argon2id cost; the defaults follow RFC 9106's second recommended option.
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=65_536, ge=64)

    # Idempotency keys are kept at least this long (the API promises 24 hours).
    idempotency_retention_hours: int = Field(default=48, ge=24)
    # The decision log and each person's activity are kept this long, then `mandate purge`
    # deletes them (core.audit.retention): 13 months by default, never under a year (PCI DSS
    # 10.5.1). Money records and the change log are not purged.
    decision_retention_days: int = Field(default=396, ge=366)
    activity_retention_days: int = Field(default=396, ge=366)

    policy_dir: Path = Field(default_factory=bundled.policy_dir)
    # Compile decisions into residual checks (cached per policy version and static facts).
    policy_compile: bool = True
    # Every process follows the policy version in force (core.policy_versions.reload): a
    # watcher thread polls the active pointer this often, and on PostgreSQL also LISTENs for
    # activations (turn LISTEN off behind a transaction-pooling PgBouncer).
    policy_watch: bool = True
    policy_poll_seconds: float = Field(default=2.0, ge=0.1, le=60)
    policy_listen: bool = True

    # Maintenance windows (core.operations): each process reads them again this often (at
    # most 5 s, so every worker sees an emergency switch within 5 s; 0: on every request),
    # and customers are told of one this many days before it starts.
    maintenance_poll_seconds: float = Field(default=2.0, ge=0, le=5)
    maintenance_notice_days: int = Field(default=7, ge=0, le=90)

    # /metrics (api.observability): answered to these client addresses, and to a bearer of
    # this token (for a scraper elsewhere); anyone else finds nothing there.
    metrics_allow: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    metrics_token: SecretStr | None = None
    # Log lines (core.logs): one JSON object each, or readable ones; unset: JSON in
    # production, readable otherwise.
    log_format: Literal["json", "console"] | None = None

    # /docs, /redoc and /openapi.json; unset: on, except in production.
    docs_enabled: bool | None = None

    # Where other services reach Mandate (https://mandate.example.com, no path): the absolute
    # URLs Mandate publishes for them (GET /.well-known/authzen-configuration) are built on it,
    # never on a Host header a client chooses. Unset: http://{host}:{port}.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+$")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)

    @property
    def token_endpoint(self) -> str | None:
        """The token endpoint's URL assertions are made for; None: the request's own (never in
        production)."""
        if self.token_endpoint_url:
            return self.token_endpoint_url
        return f"{self.public_url}/v1/auth/token" if self.public_url else None

    @property
    def base_url(self) -> str:
        """The address other services reach Mandate at (public_url, or host and port)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @field_validator("database_url")
    @classmethod
    def _normalise_driver(cls, url: str) -> str:
        # Accept the libpq form and use psycopg 3.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix) :]
        return _multi_host(url) if url.startswith("postgresql") else url

    @model_validator(mode="after")
    def _docs_off_in_production(self) -> Settings:
        if self.docs_enabled is None:
            self.docs_enabled = self.environment != "production"
        if self.password_grant is None:
            self.password_grant = self.environment != "production"
        return self

    @model_validator(mode="after")
    def _json_logs_in_production(self) -> Settings:
        if self.log_format is None:
            self.log_format = "json" if self.environment == "production" else "console"
        return self

    @model_validator(mode="after")
    def _second_factor_key_beside_the_token_key(self) -> Settings:
        if self.second_factor_key_path is None:
            self.second_factor_key_path = self.token_key_path.with_name("second-factor-key")
        if self.audit_key_path is None:
            self.audit_key_path = self.token_key_path.with_name("audit-signing-key.pem")
        return self

    @model_validator(mode="after")
    def _production_needs_provisioned_secrets(self) -> Settings:
        if self.environment == "production":
            key = self.second_factor_key_path
            if key is not None and not key.expanduser().exists():
                raise ValueError(
                    f"second-factor key {key} does not exist; in production provision it "
                    "(mandate keys create-second-factor-key)"
                )
            audit_key = self.audit_key_path
            if audit_key is not None and not audit_key.expanduser().exists():
                raise ValueError(
                    f"audit signing key {audit_key} does not exist; in production provision it "
                    "(mandate audit create-key)"
                )
            if not self.token_key_path.exists():
                raise ValueError(
                    f"token signing key {self.token_key_path} does not exist; in production "
                    "provision it (mandate keys create) instead of letting Mandate create one"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs PostgreSQL (MANDATE_DATABASE_URL)")
            if self.token_endpoint is None:
                raise ValueError(
                    "production needs MANDATE_PUBLIC_URL or MANDATE_TOKEN_ENDPOINT_URL: the token "
                    "endpoint client assertions are made for, never a Host header a client chooses"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _multi_host(url: str) -> str:
    """libpq's multi-host form (postgresql://u@h1:p1,h2:p2/db?target_session_attrs=read-write,
    what a Patroni cluster is reached by) in SQLAlchemy's spelling, which takes the hosts as
    repeated `host` query parameters (psycopg is then given libpq's lists again)."""
    parts = urlsplit(url)
    user, at, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return url
    listed = [("host", host) for host in hosts.split(",") if host]
    query = urlencode([*listed, *parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit(parts._replace(netloc=f"{user}{at}", query=query))
