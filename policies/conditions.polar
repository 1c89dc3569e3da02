# ===========================================================================
# RULES: the conditions a grant must meet. Read and signed by compliance.
#
# Each condition is named by the refusal it gives (the API's "error", e.g.
# limit_daily) and stated both ways:
#
#     passes(condition, grant, request)            the grant meets it
#     refuses(condition, grant, request, detail)   it does not; detail says why
#
# so that no refusal needs "not" over the request's amount or time (a test checks
# that exactly one of the two is true). Beside each, in quotes, the words a person
# reads for it (vocabulary.polar: condition_text). Which actions check which
# conditions, and in which order: decide.polar (conditions/2).
# ===========================================================================

# grant_not_yet_valid: "Grant already valid". A grant with a start speaks from then on.
passes("grant_not_yet_valid", grant, _request) if grant.valid_from.set = false;
passes("grant_not_yet_valid", grant, request) if
    grant.valid_from = {set: true, at: start} and start <= request.now;
refuses("grant_not_yet_valid", grant, request, {at: start}) if
    grant.valid_from = {set: true, at: start} and request.now < start;

# grant_expired: "Grant not yet expired". A grant with an end speaks until then, not after.
passes("grant_expired", grant, _request) if grant.valid_until.set = false;
passes("grant_expired", grant, request) if
    grant.valid_until = {set: true, at: end} and request.now < end;
refuses("grant_expired", grant, request, {at: end}) if
    grant.valid_until = {set: true, at: end} and request.now >= end;

# outside_time_window: "Inside the time window". A grant with a time window moves money
# only inside it (limits.polar says what a window means, across midnight too).
passes("outside_time_window", grant, _request) if grant.window.set = false;
passes("outside_time_window", grant, _request) if
    grant.window.set = true and in_window(grant.window, grant.weekday, grant.minute);
refuses("outside_time_window", grant, _request,
        {days: days, start: start, end: end, zone: zone}) if
    grant.window = {set: true, days: days, start: start, end: end, zone: zone} and
    outside_window(grant.window, grant.weekday, grant.minute);

# limit_currency_mismatch: "Limits in the account's currency". Limits of the grant and of
# its role, where set, are in the account's currency.
passes("limit_currency_mismatch", grant, request) if
    limits_apply_to(grant.limit_currency, request.currency) and
    limits_apply_to(grant.role.limit_currency, request.currency);
refuses("limit_currency_mismatch", grant, request, {}) if
    not passes("limit_currency_mismatch", grant, request);

# limit_per_transfer: "Within the per-transfer limit". The amount is at most the smallest
# per-transfer limit set at any level (limits.polar: the cascade).
passes("limit_per_transfer", grant, request) if
    within(grant.caps.per_transfer, request.amount);
refuses("limit_per_transfer", grant, request, limit) if
    exceeds(grant.caps.per_transfer, request.amount, limit);

# limit_daily: "Within the daily limit". What was sent today, with this transfer, is at most
# the daily limit: under this grant for the grant's and role's limits, by the person under
# all their grants for the company's and the bank's caps (limits.polar).
passes("limit_daily", grant, request) if
    within_cumulative(grant.caps.daily, grant.day_total, request.person.day_total);
refuses("limit_daily", grant, request, limit) if
    exceeds_cumulative(grant.caps.daily, grant.day_total, request.person.day_total, limit);

# limit_monthly: "Within the monthly limit". As the daily limit, over the calendar month.
passes("limit_monthly", grant, request) if
    within_cumulative(grant.caps.monthly, grant.month_total, request.person.month_total);
refuses("limit_monthly", grant, request, limit) if
    exceeds_cumulative(grant.caps.monthly, grant.month_total, request.person.month_total, limit);

# self_change_forbidden: "Not the person's own access". Nobody changes their own access
# (tenancy.polar: own_access).
passes("self_change_forbidden", _grant, request) if not own_access(request);
refuses("self_change_forbidden", _grant, request, {}) if own_access(request);

# role_not_assignable: "Role may be given to this user" (tenancy.polar: assignable).
passes("role_not_assignable", _grant, request) if assignable(request);
refuses("role_not_assignable", _grant, request, {}) if not assignable(request);

# exceeds_cap: "Within the caps". Limits asked for a grant or a role are within the caps the
# bank set for the company and for itself (limits.polar).
passes("exceeds_cap", _grant, request) if proposal_within_caps(request);
refuses("exceeds_cap", _grant, request, cap) if proposal_exceeds(request, cap);

# payment_not_pending: "Payment awaits approval". Only a payment still waiting, and not past
# its expiry, can be approved or rejected. A scheduled payment (approved, waiting for its
# execution date, its amount still held) awaits no approval, but until its money moves it can
# still be cancelled.
passes("payment_not_pending", _grant, request) if
    request.payment.status = "pending_approval" and request.now < request.payment.expires_at;
passes("payment_not_pending", _grant, request) if cancels_scheduled(request);
refuses("payment_not_pending", _grant, request, {status: status}) if
    request.payment.status = status and status != "pending_approval" and
    not cancels_scheduled(request);
refuses("payment_not_pending", _grant, request, {status: "expired"}) if
    request.payment.status = "pending_approval" and request.now >= request.payment.expires_at;

cancels_scheduled(request) if
    request.action = "payment.cancel" and request.payment.status = "scheduled";

# self_approval_forbidden: "Not prepared or added by the person". Who prepared a payment
# never approves it: four eyes.
passes("self_approval_forbidden", _grant, request) if
    request.payment.prepared_by_actor = false;
refuses("self_approval_forbidden", _grant, request, {}) if
    request.payment.prepared_by_actor = true;
# Nor does who added a beneficiary approve it (beneficiary.approve).
passes("self_approval_forbidden", _grant, request) if
    request.action = "beneficiary.approve" and request.resource.added_by_actor = false;
refuses("self_approval_forbidden", _grant, request, {}) if
    request.action = "beneficiary.approve" and request.resource.added_by_actor = true;
# Nor does who proposed a version of the policy approve, reject or activate it.
passes("self_approval_forbidden", _grant, request) if
    request.action in ["policy_version.approve", "policy_version.reject"] and
    request.resource.proposed_by_actor = false;
refuses("self_approval_forbidden", _grant, request, {}) if
    request.action in ["policy_version.approve", "policy_version.reject"] and
    request.resource.proposed_by_actor = true;
# Activating: never by who proposed the version; and for a rollback (a version that was in
# force before, approved afresh) never by who gave that fresh approval either.
passes("self_approval_forbidden", _grant, request) if
    request.action = "policy_version.activate" and
    request.resource.proposed_by_actor = false and
    request.resource.rollback = false;
passes("self_approval_forbidden", _grant, request) if
    request.action = "policy_version.activate" and
    request.resource.proposed_by_actor = false and
    request.resource.rollback = true and
    request.resource.approved_by_actor = false;
refuses("self_approval_forbidden", _grant, request, {}) if
    request.action = "policy_version.activate" and
    request.resource.proposed_by_actor = true;
refuses("self_approval_forbidden", _grant, request, {}) if
    request.action = "policy_version.activate" and
    request.resource.proposed_by_actor = false and
    request.resource.rollback = true and
    request.resource.approved_by_actor = true;

# already_approved: "Not approved by the person already". Nobody counts twice.
passes("already_approved", _grant, request) if
    request.payment.approved_by_actor = false;
refuses("already_approved", _grant, request, {}) if
    request.payment.approved_by_actor = true;

# approval_group_not_needed: "Fills a place the panel still has" (approvals.polar).
passes("approval_group_not_needed", grant, request) if
    fills_a_place(grant.approval.group, request.payment);
refuses("approval_group_not_needed", grant, request, {group_a: needed}) if
    not fills_a_place(grant.approval.group, request.payment) and
    needed = request.payment.still_needed_a;

# approval_limit_exceeded: "Within the approval limit". An approver's grant may cap the
# amount one approval of theirs covers (in the grant's limit currency).
passes("approval_limit_exceeded", grant, _request) if grant.approval.limit.set = false;
passes("approval_limit_exceeded", grant, request) if
    grant.approval.limit = {set: true, amount: limit} and request.amount <= limit;
refuses("approval_limit_exceeded", grant, request,
        {kind: "approval", level: "grant", amount: limit}) if
    grant.approval.limit = {set: true, amount: limit} and request.amount > limit;

# approval_daily_limit_exceeded: "Within the daily approval limit". An approver's grant may
# also cap what the payments their approvals count toward sum to in a day (the company's
# day, in the grant's limit currency): request.approver.day_total is what they approved
# today, plus this payment.
passes("approval_daily_limit_exceeded", grant, _request) if
    grant.approval.daily_limit.set = false;
passes("approval_daily_limit_exceeded", grant, request) if
    grant.approval.daily_limit = {set: true, amount: limit} and
    request.approver.day_total <= limit;
refuses("approval_daily_limit_exceeded", grant, request,
        {kind: "approval_daily", level: "grant", amount: limit}) if
    grant.approval.daily_limit = {set: true, amount: limit} and
    request.approver.day_total > limit;

# change_request_not_pending: "Change request awaits a decision". Only a request still
# pending, and not past its expiry, is approved or rejected.
passes("change_request_not_pending", _grant, request) if
    request.resource.status = "pending" and request.now < request.resource.expires_at;
refuses("change_request_not_pending", _grant, request, {status: status}) if
    request.resource.status = status and status != "pending";
refuses("change_request_not_pending", _grant, request, {status: "expired"}) if
    request.resource.status = "pending" and request.now >= request.resource.expires_at;

# peer_required: "Decided by a peer". A company's change is decided by its own people (its
# corporate admins), a change bank staff asked for by bank staff (a second bank manager).
passes("peer_required", _grant, request) if
    request.resource.type != "policy_version" and
    request.resource.level = "tenant" and request.actor.kind = "customer";
passes("peer_required", _grant, request) if
    request.resource.type != "policy_version" and
    request.resource.level = "bank" and request.actor.kind = "staff";
refuses("peer_required", _grant, request, {}) if
    request.resource.type != "policy_version" and
    request.resource.level = "tenant" and request.actor.kind = "staff";
refuses("peer_required", _grant, request, {}) if
    request.resource.type != "policy_version" and
    request.resource.level = "bank" and request.actor.kind = "customer";
# A version of the policy is decided by the staff of the bank whose staff proposed it (every
# bank reads it; one the deploy proposed, with no author, any bank's staff decide).
passes("peer_required", _grant, request) if
    request.resource.type = "policy_version" and request.resource.proposed_in_actor_bank = true;
refuses("peer_required", _grant, request, {}) if
    request.resource.type = "policy_version" and
    request.resource.proposed_in_actor_bank = false;

# own_change_request: "Not requested by the person". Nobody approves their own request.
passes("own_change_request", _grant, request) if request.resource.requested_by_actor = false;
refuses("own_change_request", _grant, request, {}) if
    request.resource.requested_by_actor = true;

# change_grants_approver_rights: "Gives the person no new rights". Nobody approves a request
# that gives themselves new rights (a grant to them, or a change that widens one of theirs or
# a role they hold; their reactivation).
passes("change_grants_approver_rights", _grant, request) if
    request.resource.gives_actor_rights = false;
refuses("change_grants_approver_rights", _grant, request, {}) if
    request.resource.gives_actor_rights = true;

# approver_tied_to_requester: "Not tied to the requester lately". Whoever is tied to the
# requester (one of them created the other, gave them a grant or reset their password within
# the trust days, directly or through people they created in turn, or someone did so to both)
# is no second person for the requester: admin A cannot mint a puppet to approve A's requests,
# nor approve the requests of a puppet A made. The same holds for a version of the policy: its
# author is its requester (and, for a rollback, who approved it afresh), among the bank's staff.
passes("approver_tied_to_requester", _grant, request) if
    request.resource.tied_to_requester = false;
refuses("approver_tied_to_requester", _grant, request, {}) if
    request.resource.tied_to_requester = true;

# grantee_tied_to_approver: "Gives no rights to someone tied to the person". Nor does anyone
# approve new rights for someone tied to them in the same way.
passes("grantee_tied_to_approver", _grant, request) if
    request.resource.gives_rights_to_tied_user = false;
refuses("grantee_tied_to_approver", _grant, request, {}) if
    request.resource.gives_rights_to_tied_user = true;

# step_up_required: "Strong authentication recent enough". Where the company (the bank, for
# its own staff) asks for step-up, the person gave a code from their authenticator app within
# its minutes (authentication.polar: what it asks of which request, and which methods count).
# Checked last: whoever it refuses has met every other condition, and may act once they give
# the code.
passes("step_up_required", _grant, request) if not step_up_set(request);
passes("step_up_required", _grant, request) if step_up_waived(request);
passes("step_up_required", _grant, request) if
    step_up_asked(request, max_age) and
    strongly_authenticated(request.actor.authentication, max_age);
refuses("step_up_required", _grant, request, {max_age: max_age}) if
    step_up_asked(request, max_age) and
    not_strongly_authenticated(request.actor.authentication, max_age);
