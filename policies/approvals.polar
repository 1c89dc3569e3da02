# ===========================================================================
# RULES: dual control over payments. Read and signed by compliance.
#
# A payment the approval panel catches waits, its amount held, until enough
# other people approve it; the last approval needed posts it. The panel is data:
# the bank's minimums (every customer inherits them) and the company's own tiers,
# each {currency, min_amount, kind, account, approvals, group_a}: payments in that
# currency of at least min_amount (of that kind, from that account, where set)
# need that many approvals, group_a of them from signature group A.
# This file says what the data means: which tiers apply, what the panel asks,
# which approval fills a place, and when the panel is satisfied. Who may approve
# at all is decide.polar's payment.approve (conditions.polar says each condition).
# ===========================================================================

# A tier applies to a payment in its currency of at least its amount, of its kind ("any"
# matches every kind: own, internal, external), from its account if it names one.
tier_applies(tier, payment) if
    tier.currency = payment.currency and
    tier.min_amount <= payment.amount and
    kind_matches(tier.kind, payment.kind) and
    account_matches(tier.account, payment.account);

kind_matches("any", _kind);
kind_matches(kind, kind) if kind != "any";

account_matches(account, _id) if account.set = false;
account_matches({set: true, id: id}, id);

# panel(payment, tiers, approvals, group_a): what a payment needs. The most any applying
# tier asks, the bank's tiers and the company's alike: a company's rules add approvals,
# they never remove the bank's. A payment to a beneficiary added less than the company's
# cooling-off hours ago (payment.new_beneficiary) needs at least one approval, whatever the
# amount: the classic fraud control.
panel(payment, tiers, approvals, group_a) if
    most(tiers, payment, by_tiers, group_a) and
    cooling_off(payment, by_tiers, approvals);

cooling_off(payment, approvals, approvals) if payment.new_beneficiary = false;
cooling_off(payment, approvals, approvals) if payment.new_beneficiary = true and approvals >= 1;
cooling_off(payment, 0, 1) if payment.new_beneficiary = true;

# most(tiers, payment, approvals, group_a): the largest number of approvals, and of
# group-A approvals, asked by the tiers that apply (0 and 0 when none does).
most([], _payment, 0, 0);
most([tier, *rest], payment, approvals, group_a) if
    tier_applies(tier, payment) and
    most(rest, payment, rest_approvals, rest_group_a) and
    larger(tier.approvals, rest_approvals, approvals) and
    larger(tier.group_a, rest_group_a, group_a);
most([tier, *rest], payment, approvals, group_a) if
    not tier_applies(tier, payment) and
    most(rest, payment, approvals, group_a);

larger(first, second, first) if first >= second;
larger(first, second, second) if first < second;

# fills_a_place(group, payment): an approval from this group counts toward what the panel
# still needs. Group A fills any place; anyone else fills a place that need not be group A.
fills_a_place({set: true, group: "A"}, payment) if payment.still_needed > 0;
fills_a_place(_group, payment) if payment.still_needed > payment.still_needed_a;

# satisfied(payment): nothing more is needed; the payment's money moves.
satisfied(payment) if payment.still_needed = 0;

# batch_panel(batch, tiers, approvals, group_a): what a payment batch (a pain.001 file,
# approved as one) needs. A batch is approved as one payment of its total: the panel is the
# most the tiers ask of a payment of the batch's total from its account, for each kind of
# payment the batch holds (batch.kinds: own, internal, external), so that splitting a large
# payment into many small ones never escapes a tier. A tier applies from its amount up and
# the total is at least every item, so no item alone ever needs more than its batch: the
# strictest tier any single item triggers is always included. A batch paying a beneficiary
# added less than the company's cooling-off hours ago (batch.new_beneficiary) needs at least
# one approval, as such a payment does.
batch_panel(batch, tiers, approvals, group_a) if
    strictest(batch.kinds, batch, tiers, by_kinds, group_a) and
    cooling_off(batch, by_kinds, approvals);

# strictest(kinds, batch, tiers, approvals, group_a): the largest number of approvals, and
# of group-A approvals, the tiers ask of the batch's total as a payment of each kind.
strictest([], _batch, _tiers, 0, 0);
strictest([kind, *rest], batch, tiers, approvals, group_a) if
    most(tiers, {currency: batch.currency, amount: batch.amount, kind: kind,
                 account: batch.account}, kind_approvals, kind_group_a) and
    strictest(rest, batch, tiers, rest_approvals, rest_group_a) and
    larger(kind_approvals, rest_approvals, approvals) and
    larger(kind_group_a, rest_group_a, group_a);
