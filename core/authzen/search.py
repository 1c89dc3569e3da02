"""The AuthZEN searches: which resources a person may read (the API's own lists, asked as
that person: the same SQL filters, the same order and pages), and which people may do
something to one resource (each candidate decided through the seam, as an evaluation would).

A page token is the list's own cursor; `page.limit` is the list's limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.authzen.questions import SUBJECT_KINDS, Question, Unanswerable, check_kinds
from core.authzen.schemas import (
    Context,
    Found,
    PageRequest,
    PageResponse,
    ResourceSearchRequest,
    SearchResponse,
    Subject,
    SubjectSearchRequest,
)
from core.authzen.schemas import Resource as Entity
from core.authzen.service import Deciding, asker_of
from core.authzen.targets import OutOfReach, instant, subject_of, target_of
from core.context import RequestContext
from core.errors import InvalidRequest
from core.ledger import accounts as ledger
from core.ledger import repository as ledger_repository
from core.models.iam import User
from core.models.ledger import Account
from core.pagination import Page, encode_cursor, paginate
from core.pagination import PageRequest as ListPage
from core.payments import beneficiaries, reading
from core.policy import engine as policy_engine
from core.policy.filters import readable_accounts, within_reach

Lister = Callable[[Session, RequestContext, str | None, int | None], Page[Any]]


def _accounts(permission: str) -> Lister:
    def listed(
        session: Session, ctx: RequestContext, cursor: str | None, limit: int | None
    ) -> Page[Any]:
        if permission == "account.read":
            return ledger.list_accounts(session, ctx, cursor=cursor, limit=limit)
        # The accounts whose statement the person may read: the accounts list's own filter and
        # order, for that permission (the API has no list of them; each statement read asks
        # the same grants, one account at a time).
        where = readable_accounts(session, ctx, permission)
        return paginate(
            session,
            ledger_repository.accounts(where),
            col(Account.id),
            ListPage.of(cursor, limit),
            shape=lambda account: account,
        )

    return listed


# (resource type, action) -> the API's list of such resources the person may `action`.
LISTS: dict[tuple[str, str], Lister] = {
    ("account", "account.read"): _accounts("account.read"),
    ("account", "statement.read"): _accounts("statement.read"),
    ("payment", "account.read"): lambda session, ctx, cursor, limit: reading.list_payments(
        session, ctx, cursor=cursor, limit=limit
    ),
    ("beneficiary", "beneficiary.read"): lambda session, ctx, cursor, limit: (
        beneficiaries.list_beneficiaries(session, ctx, cursor=cursor, limit=limit)
    ),
}


def _token(page: PageRequest | None) -> tuple[str | None, int | None]:
    if page is None:
        return None, None
    return page.token or page.next_token, page.limit


def search_resources(
    session: Session, ctx: RequestContext, request: ResourceSearchRequest
) -> SearchResponse:
    """POST /access/v1/search/resource: the resources of a type the person may read, as the
    API lists them to that person. A person out of the asker's reach has none."""
    asker = asker_of(session, ctx)
    kind, action = request.resource.type, request.action.name
    lister = LISTS.get((kind, action))
    if lister is None:
        searchable = ", ".join(f"{a} on {k}" for k, a in LISTS)
        raise InvalidRequest(f"searches are for {searchable}", code="unknown_action")
    token, limit = _token(request.page)
    ListPage.of(token, limit)  # a token not ours is refused (422), whoever is asked about
    placeholder = Entity(type=kind, id="0")
    question = Question(request.subject, request.action, placeholder, request.context or Context())
    try:
        subject = subject_of(session, asker, question)
    except OutOfReach:
        return SearchResponse(results=[], page=PageResponse(next_token="", count=0))
    # Listed as the person would list them, at the instant asked about.
    as_subject = RequestContext(
        actor=subject, clock=ctx.clock, audit=ctx.audit, _now=instant(question, ctx.now())
    )
    found = lister(session, as_subject, token, limit)
    ctx.policy_queries += as_subject.policy_queries
    results = [Found(type=kind, id=str(item.id)) for item in found.items]
    return SearchResponse(
        results=results, page=PageResponse(next_token=found.next_cursor or "", count=len(results))
    )


# Candidates are read this many at a time, in id order, until a page is full; one call
# decides at most MAX_SCANNED of them (a company of many people is searched over several pages).
_BATCH = 200
MAX_SCANNED = 1000


def search_subjects(
    session: Session, ctx: RequestContext, request: SubjectSearchRequest
) -> SearchResponse:
    """POST /access/v1/search/subject: the people who may do the action to the resource, in
    id order: each person within the asker's reach who could reach the resource at all (its
    company's people, its bank's staff), decided as an evaluation of them would be. Not
    logged person by person, as a list's items are not."""
    asker = asker_of(session, ctx)
    token, limit = _token(request.page)
    page = ListPage.of(token, limit)
    probe = Question(
        Subject(type=request.subject.type, id="-"),
        request.action,
        request.resource,
        request.context or Context(),
    )
    try:
        check_kinds(probe)
        # Who is asked about shapes only a beneficiary (who added it): each candidate's own
        # decision shapes it afresh.
        target = target_of(session, policy_engine.current(), asker, asker, probe)
    except OutOfReach:
        return SearchResponse(results=[], page=PageResponse(next_token="", count=0))
    resource = target.resource
    deciding = Deciding(session, ctx, asker, record=False)
    people = and_(
        within_reach(asker, tenant_column=col(User.tenant_id), bank_column=col(User.bank_id)),
        col(User.is_active).is_(True),
        # Of the kind asked about: people ("user") or API clients ("client").
        col(User.kind) == SUBJECT_KINDS[request.subject.type],
        or_(
            col(User.tenant_id) == resource.tenant_id,
            and_(col(User.tenant_id).is_(None), col(User.bank_id) == resource.bank_id),
        ),
    )
    chosen: list[User] = []
    after, resume = page.after or 0, None
    scanned = 0
    try:
        while resume is None:
            batch = list(
                session.scalars(
                    select(User)
                    .where(people, col(User.id) > after)
                    .order_by(col(User.id))
                    .limit(_BATCH)
                )
            )
            for user in batch:
                if scanned == MAX_SCANNED:
                    # Enough decided for one call: the page ends short, and the next one goes
                    # on from the last person decided (a page's size is the PDP's to choose).
                    resume = after
                    break
                scanned += 1
                if _may(deciding, probe, user):
                    if len(chosen) == page.size:
                        resume = chosen[-1].id  # one more follows
                        break
                    chosen.append(user)
                after = user.id or after
            if len(batch) < _BATCH:
                break
    finally:
        deciding.finish()
    next_token = encode_cursor(resume) if resume is not None else ""
    results = [Found(type=request.subject.type, id=user.username) for user in chosen]
    return SearchResponse(
        results=results, page=PageResponse(next_token=next_token, count=len(results))
    )


def _may(deciding: Deciding, probe: Question, user: User) -> bool:
    question = Question(
        Subject(type=probe.subject.type, id=user.username),
        probe.action,
        probe.resource,
        probe.context,
    )
    try:
        return deciding.decide(question).decision
    except Unanswerable:
        return False
