# ===========================================================================
# RULES: what limits, caps, currencies and time windows mean. Read and signed by
# compliance.
#
# Limits are amounts in minor units of the account's currency (cents for EUR).
# A limit is set at up to four levels: the grant, its role, the tenant's cap and
# the bank's cap. A missing level sets no limit. The limit that applies is the
# smallest one set: a corporate admin can narrow what the bank allows, never
# widen it. Daily and monthly caps of the tenant and the bank bind each person
# across all their grants (see "Cumulative limits" below).
# The arithmetic (the smallest of a list, which levels count which total, weekdays
# and minutes) is machinery: machinery.polar.
# ===========================================================================

# Limits asked for a grant or a role (each {set: false}, or {set: true, amount}) fit under
# the caps the bank set for the company and for itself.
proposal_within_caps(request) if
    fits(request.proposal.per_transfer, request.caps.per_transfer) and
    fits(request.proposal.daily, request.caps.daily) and
    fits(request.proposal.monthly, request.caps.monthly);

proposal_exceeds(request, cap) if
    request.proposal.per_transfer = {set: true, amount: amount} and
    exceeds(request.caps.per_transfer, amount, cap);
proposal_exceeds(request, cap) if
    request.proposal.daily = {set: true, amount: amount} and
    exceeds(request.caps.daily, amount, cap);
proposal_exceeds(request, cap) if
    request.proposal.monthly = {set: true, amount: amount} and
    exceeds(request.caps.monthly, amount, cap);

# ---------------------------------------------------------------------------
# Cumulative limits (daily, monthly): whose total each level counts. A grant's own limit and
# its role's count what was sent under that one grant. The company's cap and the bank's cap
# are per person: they count what the person sent under all their grants together, so that
# holding two grants over the same accounts never doubles what the company allows one person.
# Totals are per currency (a limit in EUR counts only EUR) and per day and month in the
# company's time zone.
# ---------------------------------------------------------------------------

counts_per("grant", "grant");
counts_per("role", "grant");
counts_per("tenant", "person");
counts_per("bank", "person");

# Limits set in one currency say nothing about another: a grant or role whose limits are in
# EUR does not let money move from a USD account. No limits set, no currency to match.
limits_apply_to(limit_currency, _currency) if limit_currency.set = false;
limits_apply_to(limit_currency, currency) if limit_currency = {set: true, currency: currency};

# ---------------------------------------------------------------------------
# Time windows. A window is a set of weekdays (0 = Monday ... 6 = Sunday), a local start
# and end (minutes after midnight, end excluded) and an IANA time zone; Mandate gives the
# weekday and minute of "now" in that zone. An end of 24:00 (minute 1440) is the end of the
# day: 00:00-24:00 is the whole day, up to 23:59:59, and Fri 22:00-24:00 stops at midnight.
# A window whose end is before its start runs past midnight, and its early-morning part
# belongs to the weekday it started on: Fri 22:00-02:00 includes Saturday 01:00 but not
# Monday 01:00. (in_window and outside_window, in machinery.polar, say this in minutes.)
# ---------------------------------------------------------------------------
