# ---------------------------------------------------------------------------
# The decision. Mandate asks, for every request:
#
#     decide(request, decision, reason, grant_id, detail)
#
# and takes the FIRST answer. Allowing answers come first, so a request is allowed
# when any one grant allows it; otherwise the first refusal explains why not.
#
# The request (facts gathered by core/policy/facts.py):
#   request.action        a permission name from vocabulary.polar
#   request.actor         {id, kind: "customer" | "staff", tenant (0 for staff), bank}
#   request.resource      {type, id, tenant (0 for bank-level), bank, ...}
#   request.counterparty  money actions: the other account {kind, tenant, bank}
#   request.currency      money actions: the account's currency
#   request.amount        money actions: the amount, in minor units
#   request.now           seconds since 1970-01-01 UTC
#   request.proposal      grant.manage / role.manage: the limits asked for
#   request.caps          the bank's and tenant's caps in the proposal's currency
#   request.grants        the actor's grants that reach this resource; each with
#       id, tenant, bank, role {key, builtin, level, permissions, limit_currency},
#       limit_currency, valid_from and valid_until ([] or [seconds]), window ([] or
#       [{days, start, end, zone}]), caps {per_transfer, daily, monthly: [{kind, level,
#       amount}]} and, for money actions, weekday and minute (now, in the window's zone),
#       day_total and month_total (already sent under this grant today / this month
#       in the tenant's zone, in this currency, plus this amount).
#   request.person        money actions: {day_total, month_total}, what the actor sent under
#       all their grants today / this month in the tenant's zone, in this currency, plus
#       this amount.
# ---------------------------------------------------------------------------

# Everyone may see their own profile and their own activity.
decide(r, "allow", "ok", 0, {}) if
    r.action = "self.read" and r.resource.type = "user" and r.resource.id = r.actor.id;

decide(r, "allow", "ok", g.id, {}) if
    visible(r.actor, r.resource) and
    counterparty_fits(r) and
    g in r.grants and
    grant_applies(g, r) and
    carries(g, r.action) and
    conditions(r.action, cs) and
    meets_all(cs, g, r);

decide(r, "deny", "not_found", 0, {}) if
    not visible(r.actor, r.resource);

decide(r, "deny", "counterparty_not_found", 0, {}) if
    not counterparty_fits(r);

decide(r, "deny", reason, g.id, detail) if
    g in r.grants and
    grant_applies(g, r) and
    carries(g, r.action) and
    conditions(r.action, cs) and
    first_failure(cs, g, r, failed, detail) and
    reason(failed, reason);

decide(_r, "deny", "missing_permission", 0, {});

counterparty_fits(r) if not moves_money(r.action);
counterparty_fits(r) if moves_money(r.action) and counterparty_allowed(r);

# conditions(action, names): what a grant that carries the permission must also meet, in the
# order a refusal reports them.
conditions(action, ["valid_from", "valid_until", "time_window", "limit_currency",
                    "per_transfer_limit", "daily_limit", "monthly_limit"]) if
    moves_money(action);
conditions("grant.manage", ["valid_from", "valid_until", "not_own_access", "role_assignable",
                            "within_caps"]);
conditions("role.manage", ["valid_from", "valid_until", "not_own_access", "within_caps"]);
conditions("user.manage", ["valid_from", "valid_until", "not_own_access"]);
conditions(action, ["valid_from", "valid_until"]) if
    not moves_money(action) and
    not action in ["grant.manage", "role.manage", "user.manage"];

meets_all([], _g, _r);
meets_all([c, *rest], g, r) if holds(c, g, r) and meets_all(rest, g, r);

first_failure([c, *_rest], g, r, c, detail) if fails(c, g, r, detail);
first_failure([c, *rest], g, r, failed, detail) if
    holds(c, g, r) and first_failure(rest, g, r, failed, detail);

# reason(condition, reason code): the code a refusal answers with (the API's "error").
reason("valid_from",         "grant_not_yet_valid");
reason("valid_until",        "grant_expired");
reason("time_window",        "outside_time_window");
reason("limit_currency",     "limit_currency_mismatch");
reason("per_transfer_limit", "limit_per_transfer");
reason("daily_limit",        "limit_daily");
reason("monthly_limit",      "limit_monthly");
reason("not_own_access",     "self_change_forbidden");
reason("role_assignable",    "role_not_assignable");
reason("within_caps",        "exceeds_cap");

# Each condition, stated both ways (holds / fails) so no refusal needs "not" over the
# request's amount or time; a test checks that exactly one of the two is true.

holds("valid_from", g, _r) if g.valid_from = [];
holds("valid_from", g, r) if [t] = g.valid_from and t <= r.now;
fails("valid_from", g, r, {at: t}) if [t] = g.valid_from and r.now < t;

holds("valid_until", g, _r) if g.valid_until = [];
holds("valid_until", g, r) if [t] = g.valid_until and r.now < t;
fails("valid_until", g, r, {at: t}) if [t] = g.valid_until and r.now >= t;

holds("time_window", g, _r) if g.window = [];
holds("time_window", g, _r) if [w] = g.window and in_window(w, g.weekday, g.minute);
fails("time_window", g, _r, w) if [w] = g.window and outside_window(w, g.weekday, g.minute);

holds("limit_currency", g, r) if
    currency_fits(g.limit_currency, r.currency) and currency_fits(g.role.limit_currency, r.currency);
fails("limit_currency", g, r, {}) if not holds("limit_currency", g, r);

holds("per_transfer_limit", g, r) if within(g.caps.per_transfer, r.amount);
fails("per_transfer_limit", g, r, cap) if exceeds(g.caps.per_transfer, r.amount, cap);

holds("daily_limit", g, r) if within_cumulative(g.caps.daily, g.day_total, r.person.day_total);
fails("daily_limit", g, r, cap) if
    exceeds_cumulative(g.caps.daily, g.day_total, r.person.day_total, cap);

holds("monthly_limit", g, r) if
    within_cumulative(g.caps.monthly, g.month_total, r.person.month_total);
fails("monthly_limit", g, r, cap) if
    exceeds_cumulative(g.caps.monthly, g.month_total, r.person.month_total, cap);

holds("not_own_access", _g, r) if not own_access(r);
fails("not_own_access", _g, r, {}) if own_access(r);

holds("role_assignable", _g, r) if assignable(r);
fails("role_assignable", _g, r, {}) if not assignable(r);

holds("within_caps", _g, r) if proposal_within_caps(r);
fails("within_caps", _g, r, cap) if proposal_exceeds(r, cap);
