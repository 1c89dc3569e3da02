# ---------------------------------------------------------------------------
# Limits, the cascade, time windows and validity: what they mean.
#
# Limits are amounts in minor units of the account's currency (cents for EUR).
# A limit is set at up to four levels: the grant, its role, the tenant's cap and
# the bank's cap. A missing level sets no limit. The limit that applies is the
# smallest one set: a corporate admin can narrow what the bank allows, never
# widen it. Daily and monthly caps of the tenant and the bank bind each person
# across all their grants (see "Cumulative limits" below).
# ---------------------------------------------------------------------------

# effective_limit(caps, cap): the smallest of the caps (a list of {kind, level, amount}).
# On a tie the earlier one is reported; Mandate lists grant, role, tenant, bank.
effective_limit([c], c);
effective_limit([c, *rest], e) if
    rest = [_next, *_more] and effective_limit(rest, m) and lower(c, m, e);

lower(a, b, a) if a.amount <= b.amount;
lower(a, b, b) if a.amount > b.amount;

# within(caps, x): x is at most the effective limit (no caps set: no limit).
within([], _x);
within(caps, x) if effective_limit(caps, e) and x <= e.amount;

# exceeds(caps, x, cap): x is above the effective limit `cap`.
exceeds(caps, x, e) if effective_limit(caps, e) and x > e.amount;

# A proposed limit (a list holding the amount, or empty for none) fits under the caps.
fits([], _caps);
fits([n], caps) if within(caps, n);

proposal_within_caps(r) if
    fits(r.proposal.per_transfer, r.caps.per_transfer) and
    fits(r.proposal.daily, r.caps.daily) and
    fits(r.proposal.monthly, r.caps.monthly);

proposal_exceeds(r, e) if [n] = r.proposal.per_transfer and exceeds(r.caps.per_transfer, n, e);
proposal_exceeds(r, e) if [n] = r.proposal.daily and exceeds(r.caps.daily, n, e);
proposal_exceeds(r, e) if [n] = r.proposal.monthly and exceeds(r.caps.monthly, n, e);

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

# limits_per(caps, per, kept): the caps among `caps` that count a total `per` grant or person.
limits_per([], _per, []);
limits_per([c, *rest], per, [c, *kept]) if
    counts_per(c.level, per) and limits_per(rest, per, kept);
limits_per([c, *rest], per, kept) if
    not counts_per(c.level, per) and limits_per(rest, per, kept);

# within_cumulative(caps, grant_total, person_total): each total is at most the effective
# limit of the levels that count it.
within_cumulative(caps, grant_total, person_total) if
    limits_per(caps, "grant", own) and within(own, grant_total) and
    limits_per(caps, "person", shared) and within(shared, person_total);

# exceeds_cumulative(caps, grant_total, person_total, cap): the limit passed, the grant's
# own levels reported first; a per-person cap says so ({..., per: "person"}).
exceeds_cumulative(caps, grant_total, _person_total, cap) if
    limits_per(caps, "grant", own) and exceeds(own, grant_total, cap);
exceeds_cumulative(caps, grant_total, person_total,
                   {kind: kind, level: level, amount: amount, per: "person"}) if
    limits_per(caps, "grant", own) and within(own, grant_total) and
    limits_per(caps, "person", shared) and
    exceeds(shared, person_total, {kind: kind, level: level, amount: amount});

# Limits set in one currency say nothing about another: a grant or role whose limits are in
# EUR does not let money move from a USD account.
currency_fits("", _currency);
currency_fits(c, currency) if c != "" and c = currency;

# ---------------------------------------------------------------------------
# Time windows. A window is a set of weekdays (0 = Monday ... 6 = Sunday), a local start
# and end (minutes after midnight, end excluded) and an IANA time zone; Mandate gives the
# weekday and minute of "now" in that zone. An end of 24:00 (minute 1440) is the end of the
# day: 00:00-24:00 is the whole day, up to 23:59:59, and Fri 22:00-24:00 stops at midnight.
# A window whose end is before its start runs past midnight, and its early-morning part
# belongs to the weekday it started on: Fri 22:00-02:00 includes Saturday 01:00 but not
# Monday 01:00.
# ---------------------------------------------------------------------------

in_window(w, wd, m) if
    w.start < w.end and day in w.days and wd = day and w.start <= m and m < w.end;
in_window(w, wd, m) if
    w.start > w.end and day in w.days and wd = day and w.start <= m;
in_window(w, wd, m) if
    w.start > w.end and day in w.days and next_day(day, wd) and m < w.end;

outside_window(w, wd, _m) if w.start < w.end and off_day(w, d) and wd = d;
outside_window(w, _wd, m) if w.start < w.end and m < w.start;
outside_window(w, _wd, m) if w.start < w.end and m >= w.end;
outside_window(w, _wd, m) if w.start > w.end and m >= w.end and m < w.start;
outside_window(w, wd, m) if w.start > w.end and m >= w.start and off_day(w, d) and wd = d;
outside_window(w, wd, m) if w.start > w.end and m < w.end and off_day(w, d) and next_day(d, wd);

off_day(w, d) if d in [0, 1, 2, 3, 4, 5, 6] and not d in w.days;

next_day(0, 1);
next_day(1, 2);
next_day(2, 3);
next_day(3, 4);
next_day(4, 5);
next_day(5, 6);
next_day(6, 0);
