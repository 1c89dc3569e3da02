# ===========================================================================
# MACHINERY: how the rules are evaluated. For engineers; compliance need not read it.
#
# Nothing here says who may do what. It checks a list of conditions in order, finds
# the smallest of a list of limits, sorts limits by whose total they count, and
# does the weekday and minute arithmetic of time windows. What these mean is stated
# in words in decide.polar, conditions.polar and limits.polar.
# Dynamic facts (the amount, the time, the totals) appear here only in comparisons
# and unifications, never under "not": that keeps the compiled decisions equal to
# direct evaluation (core/policy/engine.py).
# ===========================================================================

# meets_all(names, grant, request): the grant passes every condition of the list.
meets_all([], _grant, _request);
meets_all([condition, *rest], grant, request) if
    passes(condition, grant, request) and meets_all(rest, grant, request);

# first_refusal(names, grant, request, refused, detail): the first condition of the list the
# grant does not pass, and what it says about why.
first_refusal([condition, *_rest], grant, request, condition, detail) if
    refuses(condition, grant, request, detail);
first_refusal([condition, *rest], grant, request, refused, detail) if
    passes(condition, grant, request) and first_refusal(rest, grant, request, refused, detail);

# ---------------------------------------------------------------------------
# Limits: lists of {kind, level, amount}, most specific level first.
# ---------------------------------------------------------------------------

# effective_limit(limits, smallest): the smallest of the limits. On a tie the earlier one is
# reported; Mandate lists grant, role, tenant, bank.
effective_limit([limit], limit);
effective_limit([limit, *rest], smallest) if
    rest = [_next, *_more] and
    effective_limit(rest, smallest_of_rest) and
    lower(limit, smallest_of_rest, smallest);

lower(first, second, first) if first.amount <= second.amount;
lower(first, second, second) if first.amount > second.amount;

# within(limits, amount): the amount is at most the effective limit (no limits set: no limit).
within([], _amount);
within(limits, amount) if effective_limit(limits, limit) and amount <= limit.amount;

# exceeds(limits, amount, limit): the amount is above the effective limit `limit`.
exceeds(limits, amount, limit) if effective_limit(limits, limit) and amount > limit.amount;

# fits(proposed, caps): a proposed limit ({set: false} or {set: true, amount}) fits under the caps.
fits(proposed, _caps) if proposed.set = false;
fits(proposed, caps) if proposed = {set: true, amount: amount} and within(caps, amount);

# limits_per(limits, per, kept): the limits that count a total `per` grant or person
# (limits.polar: counts_per).
limits_per([], _per, []);
limits_per([limit, *rest], per, [limit, *kept]) if
    counts_per(limit.level, per) and limits_per(rest, per, kept);
limits_per([limit, *rest], per, kept) if
    not counts_per(limit.level, per) and limits_per(rest, per, kept);

# within_cumulative(limits, grant_total, person_total): each total is at most the effective
# limit of the levels that count it.
within_cumulative(limits, grant_total, person_total) if
    limits_per(limits, "grant", own) and within(own, grant_total) and
    limits_per(limits, "person", shared) and within(shared, person_total);

# exceeds_cumulative(limits, grant_total, person_total, limit): the limit passed, the grant's
# own levels reported first; a per-person cap says so ({..., per: "person"}).
exceeds_cumulative(limits, grant_total, _person_total, limit) if
    limits_per(limits, "grant", own) and exceeds(own, grant_total, limit);
exceeds_cumulative(limits, grant_total, person_total,
                   {kind: kind, level: level, amount: amount, per: "person"}) if
    limits_per(limits, "grant", own) and within(own, grant_total) and
    limits_per(limits, "person", shared) and
    exceeds(shared, person_total, {kind: kind, level: level, amount: amount});

# ---------------------------------------------------------------------------
# Time windows in minutes (limits.polar says what they mean). A window ending before it
# starts runs past midnight; its early-morning part belongs to the day it started on.
# ---------------------------------------------------------------------------

in_window(window, weekday, minute) if
    window.start < window.end and day in window.days and weekday = day and
    window.start <= minute and minute < window.end;
in_window(window, weekday, minute) if
    window.start > window.end and day in window.days and weekday = day and
    window.start <= minute;
in_window(window, weekday, minute) if
    window.start > window.end and day in window.days and next_day(day, weekday) and
    minute < window.end;

outside_window(window, weekday, _minute) if
    window.start < window.end and off_day(window, day) and weekday = day;
outside_window(window, _weekday, minute) if
    window.start < window.end and minute < window.start;
outside_window(window, _weekday, minute) if
    window.start < window.end and minute >= window.end;
outside_window(window, _weekday, minute) if
    window.start > window.end and minute >= window.end and minute < window.start;
outside_window(window, weekday, minute) if
    window.start > window.end and minute >= window.start and
    off_day(window, day) and weekday = day;
outside_window(window, weekday, minute) if
    window.start > window.end and minute < window.end and
    off_day(window, day) and next_day(day, weekday);

off_day(window, day) if day in [0, 1, 2, 3, 4, 5, 6] and not day in window.days;

next_day(0, 1);
next_day(1, 2);
next_day(2, 3);
next_day(3, 4);
next_day(4, 5);
next_day(5, 6);
next_day(6, 0);
