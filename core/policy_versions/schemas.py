"""The shapes of policy versions in the API and the console."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from core.fields import MAX_ID, PLAIN_TEXT, Instant
from core.policy_versions.diff import FileDiff

# A proposal's bounds: names are plain file names (no folders, nothing hidden), and sizes
# stay far below what a request body may carry (api.middleware gives the upload its own).
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}\.polar$")
CASE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}\.yaml$")
MAX_FILES = 32
MAX_CASE_FILES = 32
MAX_FILE_CHARS = 200_000
MAX_TOTAL_CHARS = 400_000

Status = Literal["proposed", "approved", "active", "retired", "rejected"]


class PolicyProposal(BaseModel):
    """A proposed version: the text of every .polar file by name, optionally case files
    (YAML, as in policies/tests; one of a bundled name replaces it), and a note saying why.
    With `tenant_id`: a company's extension (tenant_refuses rules only), its cases decided
    with it loaded beside the policy that company runs."""

    files: dict[str, str] = Field(min_length=1, max_length=MAX_FILES)
    cases: dict[str, str] = Field(default_factory=dict, max_length=MAX_CASE_FILES)
    note: Annotated[str, Field(max_length=500), PLAIN_TEXT] = ""
    tenant_id: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None
    based_on: Annotated[
        int | None,
        Field(
            ge=1,
            le=MAX_ID,
            description="The platform version the files were taken from: its case files come "
            "with the proposal (the proposal's own replace them by name)",
        ),
    ] = None

    @model_validator(mode="after")
    def _basis_of_a_platform_version(self) -> PolicyProposal:
        if self.based_on is not None and self.tenant_id is not None:
            raise ValueError("based_on is for a platform version, not a company's extension")
        return self

    @field_validator("files")
    @classmethod
    def _file_names(cls, files: dict[str, str]) -> dict[str, str]:
        # oso 0.27.3 aborts the whole process (a Rust panic, not an exception) when it reports
        # a mistake in a file holding a character beyond ASCII: refused before it is loaded.
        for name, text in files.items():
            if not text.isascii():
                raise ValueError(
                    f"{name[:80]} holds characters beyond ASCII: write the rules in ASCII"
                )
        return _checked(files, FILE_NAME, "a policy file is named like decide.polar")

    @field_validator("cases")
    @classmethod
    def _case_names(cls, cases: dict[str, str]) -> dict[str, str]:
        return _checked(cases, CASE_NAME, "a case file is named like roles.yaml")


def _checked(files: dict[str, str], pattern: re.Pattern[str], rule: str) -> dict[str, str]:
    total = 0
    for name, text in files.items():
        if not pattern.match(name):
            raise ValueError(f"{rule} (letters, digits, _ and -; no folders): not {name[:80]!r}")
        if len(text) > MAX_FILE_CHARS:
            raise ValueError(f"{name} is longer than {MAX_FILE_CHARS} characters")
        total += len(text)
    if total > MAX_TOTAL_CHARS:
        raise ValueError(f"the files hold more than {MAX_TOTAL_CHARS} characters in all")
    return files


class TenantRulePublic(BaseModel):
    """One of a company's own rules: the reason it refuses with, and what a person reads."""

    reason: str
    text: str


class PolicyVersionSummary(BaseModel):
    id: int
    hash: str
    status: Status
    origin: Literal["proposal", "deploy"]
    note: str
    author_id: int | None
    author: str | None
    created_at: dt.datetime
    approved_by_id: int | None
    approved_by: str | None
    approved_at: dt.datetime | None
    rejected_by_id: int | None
    rejected_at: dt.datetime | None
    rejection_reason: str
    activated_by_id: int | None
    activated_by: str | None
    activated_at: dt.datetime | None
    retired_at: dt.datetime | None
    # Whether it was in force before: activating it again is a rollback.
    was_active: bool
    files: list[str]
    # A company's extension: that company (None: a version of the platform's policy).
    tenant_id: int | None = None


class PolicyVersionPublic(PolicyVersionSummary):
    """A version with its content: every file's text, the cases proposed with it, and what
    validating it found."""

    file_texts: dict[str, str]
    cases: dict[str, str]
    validation: dict[str, Any]
    # An extension's rules in words: each reason and its sentence.
    rules: list[TenantRulePublic] = []


class PolicyVersionDiff(BaseModel):
    """Version `id` (right) against version `against` (left), file by file."""

    id: int
    against: int
    hash: str
    against_hash: str
    files: list[FileDiff]


class PolicyRejection(BaseModel):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), PLAIN_TEXT
    ]


class ImpactRequest(BaseModel):
    """The window of the decision log to replay (default: the last 7 days), at most `limit`
    decisions, with up to `samples` decision ids per change."""

    since: Instant = None
    until: Instant = None
    limit: Annotated[int, Field(ge=1, le=100_000)] = 10_000
    samples: Annotated[int, Field(ge=0, le=50)] = 5
    # A rollout's step: only these tenants' decisions, each replayed under the version with
    # the tenant's own extension. An extension's impact is always its company's alone.
    tenants: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None, Field(min_length=1, max_length=1000)
    ] = None
