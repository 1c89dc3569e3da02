# ===========================================================================
# RULES: the decision. Read and signed by compliance.
#
# Who may do what: a person may act when the resource is within their reach, the
# money may go where it is sent, and one of their grants carries the action and
# meets every condition the action checks (conditions/2 below, in order). Each
# condition is named by the refusal it gives, and what it means is in
# conditions.polar; the words a person reads are in vocabulary.polar.
# How a list of conditions is checked is machinery (machinery.polar): nobody
# needs to read it to know what is allowed.
#
# Mandate asks, for every request:
#
#     decide(request, decision, reason, grant, detail)
#
# and takes the FIRST answer. Allowing answers come first, so a request is allowed
# when any one grant allows it; otherwise the first refusal explains why not.
#
# The request (facts gathered by core/policy/facts.py):
#   request.action        an action of vocabulary.polar
#   request.actor         {id, kind: "customer" | "staff", bank, and tenant (customers only),
#                          scoped (true: an API client's token), scopes (its scopes)}
#   request.resource      {type, level: "tenant" | "bank", bank, tenant (tenant level only),
#                          id (not for accounts), ...}
#   request.counterparty  money actions: the other account {kind, bank, tenant (customer
#                         accounts only)}
#   request.currency      money actions: the account's currency
#   request.amount        money actions: the amount, in minor units
#   request.now           seconds since 1970-01-01 UTC
#   request.proposal      grant.manage / role.manage: the limits asked for, each
#                         {set: false} or {set: true, amount}
#   request.caps          the bank's and tenant's caps in the proposal's currency
#   request.grants        the actor's grants that reach this resource; each with
#       id, bank, tenant (tenant-level grants only),
#       role {key, builtin, level, permissions, limit_currency},
#       limit_currency ({set: false} or {set: true, currency}),
#       valid_from and valid_until ({set: false} or {set: true, at: seconds}),
#       window ({set: false} or {set: true, days, start, end, zone}),
#       caps {per_transfer, daily, monthly: [{kind, level, amount}]} and, for money
#       actions, weekday and minute (now, in the window's zone), day_total and
#       month_total (already sent under this grant today / this month in the tenant's
#       zone, in this currency, plus this amount).
#   request.person        money actions: {day_total, month_total}, what the actor sent under
#       all their grants today / this month in the tenant's zone, in this currency, plus
#       this amount.
#   request.resource      beneficiary.approve: also added_by_actor (true or false: the
#       person asking added the beneficiary).
#   request.resource      change_request.approve, .reject: the change request {status:
#       "pending" | "applied" | "rejected" | "refused", expires_at (seconds),
#       requested_by_actor, gives_actor_rights, tied_to_requester,
#       gives_rights_to_tied_user (true or false: the person asking asked for it; it gives
#       the person asking new rights; the person asking is tied to the requester; it gives new
#       rights to someone tied to the person asking; tied: one created the other, gave
#       them a grant or reset their password within the trust days, directly or through
#       others, or a third person did so to both, core/policy/ties.py)}; its level is "tenant"
#       for a company's change, "bank" for one asked by bank staff.
#   request.resource      policy_version.approve, .reject, .activate: the version
#       {proposed_in_actor_bank, proposed_by_actor, approved_by_actor, rollback,
#       tied_to_requester} (true or false: its author is staff of the bank of the person
#       asking, or it came with a deploy; the person asking proposed it; gave its current
#       approval; it was in force before; the person asking is tied to its author, or for a
#       rollback to who approved it afresh, as for change requests); its level is "bank".
#   request.payment       payment.approve, .reject, .cancel: the payment (or a payment batch,
#       approved, rejected and cancelled as one payment of its total) {status
#       (pending_approval, scheduled, posted, sent, rejected, cancelled, expired, failed),
#       prepared_by_actor and approved_by_actor (true or false: the person asking prepared
#       it, approved it already), still_needed, still_needed_a (approvals the panel still
#       needs, of them from group A), expires_at (seconds)}; request.amount and
#       request.currency are its amount and currency. Each grant then also has approval
#       {group, limit, daily_limit} ({set: false} or {set: true, group} / {set: true,
#       amount}), and request.approver is {day_total}: what the person asking approved today
#       (the company's day) in this currency, plus this payment.
#   request.step_up, request.actor.authentication   the actions that check step_up_required:
#       what the company asks (a strong authentication within max_age seconds; for money
#       above an amount) and how and when the person last authenticated
#       (authentication.polar).
# The answer's grant is the grant that allowed or refused, nil when none did.
# ===========================================================================

# Refused by the token's scopes, before anything else: an API client's token carries the
# scopes it was issued with (vocabulary.polar: scope, scope_covers), and an action none of them
# covers is refused whatever the client's grants allow. A scope only narrows: no rule allows
# anything because of it. A person's token is not scoped.
decide(request, "deny", "scope_missing", nil, {}) if
    request.actor.scoped = true and
    visible(request.actor, request.resource) and
    not scope_allows(request.actor.scopes, request.action);

# Everyone may see their own profile and their own activity (vocabulary.polar: own_action).
decide(request, "allow", "ok", nil, {}) if
    request.action = "self.read" and
    request.resource.type = "user" and
    request.resource.id = request.actor.id;

# Everyone may see everything Mandate holds about them (vocabulary.polar: own_action).
decide(request, "allow", "ok", nil, {}) if
    request.action = "personal_data.read" and
    request.resource.type = "user" and
    request.resource.id = request.actor.id;

# Everyone may set up and remove their own second factor (vocabulary.polar: own_action).
decide(request, "allow", "ok", nil, {}) if
    request.action = "self.manage" and
    request.resource.type = "user" and
    request.resource.id = request.actor.id;

# Who prepared a payment may cancel it while it waits, for approval or, scheduled, for its
# execution date (vocabulary.polar: own_action).
decide(request, "allow", "ok", nil, {}) if
    request.action = "payment.cancel" and
    visible(request.actor, request.resource) and
    request.payment.prepared_by_actor = true and
    passes("payment_not_pending", nil, request);

# Refused by the company's own rules: what the rules below allow, a rule the bank set for
# this company on its request refuses, with its own reason (tenant_rule:...) and words. Such
# rules live in the company's extension (tenant_refuses/3, below), are asked only about the
# actions a company may restrict (vocabulary.polar: restrictable), and only once the
# platform allows: coming first, their refusal is the answer; they never allow anything.
decide(request, "deny", reason, grant_id, {text: text}) if
    restrictable(request.action) and
    tenant_refuses(request, reason, text) and
    allowed_by_grant(request, grant_id);

# Allowed: within reach, the money may go there, and a grant that speaks for the person
# here carries the action and meets every condition the action checks.
decide(request, "allow", "ok", grant_id, {}) if allowed_by_grant(request, grant_id);

allowed_by_grant(request, grant.id) if
    visible(request.actor, request.resource) and
    counterparty_fits(request) and
    grant in request.grants and
    grant_applies(grant, request) and
    carries(grant, request.action) and
    conditions(request.action, names) and
    meets_all(names, grant, request);

# Refused, in this order: out of reach (answers "not found", so nothing leaks) ...
decide(request, "deny", "not_found", nil, {}) if
    not visible(request.actor, request.resource);

# ... the money may not go to the other account ...
decide(request, "deny", "counterparty_not_found", nil, {}) if
    not counterparty_fits(request);

# ... one's own payment no longer waits ...
decide(request, "deny", "payment_not_pending", nil, detail) if
    request.action = "payment.cancel" and
    request.payment.prepared_by_actor = true and
    refuses("payment_not_pending", nil, request, detail);

# ... a grant carries the action but fails a condition: the first it fails, by its name ...
decide(request, "deny", condition, grant.id, detail) if
    grant in request.grants and
    grant_applies(grant, request) and
    carries(grant, request.action) and
    conditions(request.action, names) and
    first_refusal(names, grant, request, condition, detail);

# ... and otherwise no grant carries the action.
decide(_request, "deny", "missing_permission", nil, {});

# tenant_refuses(request, reason, text): a company's own refusal. The platform has none: a
# company's extension, loaded with these files for that company's decisions only, adds its
# rules here and may define nothing else (core/policy_versions/extension_rules.py refuses
# any other rule when it is proposed). Each rule names its reason, "tenant_rule:" and a
# name, and the sentence the person refused reads.
tenant_refuses(_request, _reason, _text) if false;

# Money may go to the other account (tenancy.polar: counterparty_allowed).
counterparty_fits(request) if not moves_money(request.action);
counterparty_fits(request) if moves_money(request.action) and counterparty_allowed(request);

# conditions(action, names): what a grant that carries the action must also meet, in the
# order a refusal reports them. Each name is the refusal the condition gives (the API's
# "error"); the console shows this as its action x condition table.
conditions(action, ["grant_not_yet_valid", "grant_expired", "outside_time_window",
                    "limit_currency_mismatch", "limit_per_transfer", "limit_daily",
                    "limit_monthly", "step_up_required"]) if
    moves_money(action);
# Approving a payment: the person's grant over the paying account carries payment.approve,
# the payment still waits, the person neither prepared it nor approved it already, their
# group fills a place the panel still has, and the amount is within their approval limit
# (approvals.polar), and so is what they approved today with it (their daily approval limit,
# if their grant sets one); and where the company asks for step-up, the person gave a code from
# their authenticator lately (authentication.polar). Step-up is every action's last condition.
conditions("payment.approve", ["grant_not_yet_valid", "grant_expired", "payment_not_pending",
                               "self_approval_forbidden", "already_approved",
                               "approval_group_not_needed", "limit_currency_mismatch",
                               "approval_limit_exceeded", "approval_daily_limit_exceeded",
                               "step_up_required"]);
# Rejecting ends a payment as surely as the last approval moves its money: who may approve
# payments may reject one they did not prepare, and only when its amount is within their
# approval limit (nobody vetoes a payment they could not approve). Not their group, nor an
# approval they gave it before (they may change their mind), nor their daily approval limit
# (a rejection moves no money).
conditions("payment.reject", ["grant_not_yet_valid", "grant_expired", "payment_not_pending",
                              "self_approval_forbidden", "limit_currency_mismatch",
                              "approval_limit_exceeded"]);
conditions("payment.cancel", ["grant_not_yet_valid", "grant_expired", "payment_not_pending"]);
# Approving a beneficiary (a holder of beneficiary.manage may): never one the person added
# themselves. A rule of its own action rather than a fact on beneficiary.manage, so that adding,
# changing and deleting check nothing of it, and the decision log names the approval.
conditions("beneficiary.approve", ["grant_not_yet_valid", "grant_expired",
                                   "self_approval_forbidden"]);
# Adding, changing and deleting a beneficiary (where money may go) asks for a step-up where the
# company asks for it.
conditions("beneficiary.manage", ["grant_not_yet_valid", "grant_expired", "step_up_required"]);
# Dual administration: a change request is approved by a peer of the requester who is not
# the requester, gains no rights by it, and is no puppet of the requester (conditions.polar:
# the sock-puppet chain). Rejecting asks only that it waits and that a peer decides: a
# requester may withdraw their own.
conditions("change_request.approve", ["grant_not_yet_valid", "grant_expired",
                                      "change_request_not_pending", "peer_required",
                                      "own_change_request", "change_grants_approver_rights",
                                      "approver_tied_to_requester",
                                      "grantee_tied_to_approver", "step_up_required"]);
conditions("change_request.reject", ["grant_not_yet_valid", "grant_expired",
                                     "change_request_not_pending", "peer_required"]);
conditions("change_request.read", ["grant_not_yet_valid", "grant_expired"]);
# A version of the policy: decided by staff of its author's bank; approved (or rejected) by
# someone other than who proposed it, and put in force by someone other than who proposed it;
# an earlier version put in force again (a rollback) needs a fresh approval, and someone other
# than that approver activates it; never by someone tied to them (conditions.polar).
conditions("policy_version.approve", ["grant_not_yet_valid", "grant_expired", "peer_required",
                                      "self_approval_forbidden", "approver_tied_to_requester"]);
conditions("policy_version.reject", ["grant_not_yet_valid", "grant_expired", "peer_required",
                                     "self_approval_forbidden", "approver_tied_to_requester"]);
conditions("policy_version.activate", ["grant_not_yet_valid", "grant_expired", "peer_required",
                                       "self_approval_forbidden",
                                       "approver_tied_to_requester"]);
conditions("grant.manage", ["grant_not_yet_valid", "grant_expired", "self_change_forbidden",
                            "role_not_assignable", "exceeds_cap"]);
conditions("role.manage", ["grant_not_yet_valid", "grant_expired", "self_change_forbidden",
                           "exceeds_cap"]);
conditions("user.manage", ["grant_not_yet_valid", "grant_expired", "self_change_forbidden"]);
conditions("personal_data.erase", ["grant_not_yet_valid", "grant_expired",
                                   "self_change_forbidden"]);
conditions(action, ["grant_not_yet_valid", "grant_expired"]) if
    permission(action, _level, _meaning) and
    not moves_money(action) and
    not action in ["grant.manage", "role.manage", "user.manage", "personal_data.erase",
                   "payment.approve",
                   "payment.cancel", "change_request.approve", "policy_version.approve",
                   "policy_version.activate", "beneficiary.manage"];
