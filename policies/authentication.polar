# ===========================================================================
# RULES: strong authentication and step-up. Read and signed by compliance.
#
# Which ways of signing in prove a second factor, who must use one when the bank
# requires it, and what a step-up asks: the condition step_up_required
# (conditions.polar) refuses an action when the person's company (the bank, for
# its own staff) asks for a recent strong authentication and the person has not
# given one. Which actions check it: decide.polar (conditions/2, always last, so
# a person asked for a code has met every other condition).
#
# The facts (gathered by core/policy/facts.py for the actions that check it):
#   request.step_up       {set: false}: the company asks no step-up; or
#                         {set: true, max_age (seconds), above: {set: false} or
#                         {set: true, currency, amount}}: a strong authentication
#                         within max_age seconds, and for money moves only above
#                         that amount in that currency (any amount in another).
#   request.actor.authentication
#                         {set: false}: not known (whom an explanation is about);
#                         {set: true, methods, age}: the methods of the person's
#                         latest authentication (RFC 8176: "pwd" a password, "otp"
#                         a code from their authenticator app, "rec" a recovery
#                         code) and how many seconds ago it was.
# ===========================================================================

# strong_method(method): a method that proves the person holds their second factor. A code
# from the authenticator app does. A recovery code does not: it gets a person in who lost
# their phone, to set up a new one, never to approve payments with a sheet of paper that may
# have been copied.
strong_method("otp");

# second_factor_required(person): when the bank requires two-factor sign-in, who must use it:
# bank staff, and every corporate admin (person: {kind, roles: the built-in roles of the
# person's grants in force}). Without it they may sign in only to set up their authenticator.
second_factor_required(person) if person.kind = "staff";
second_factor_required(person) if "corporate_admin" in person.roles;

# step_up_set(request): the company (the bank, for its staff) asks for step-up at all.
step_up_set(request) if request.step_up.set = true;

# step_up_asked(request, max_age): this request needs a strong authentication within max_age
# seconds. Actions that move no money ask it whenever the company does; money moves
# (transfers, payments) only above the company's amount, or in another currency than it is
# set in, and not at all when the company sets no amount.
step_up_asked(request, max_age) if
    step_up_set(request) and max_age = request.step_up.max_age and
    not moves_money(request.action);
step_up_asked(request, max_age) if
    step_up_set(request) and max_age = request.step_up.max_age and
    moves_money(request.action) and
    request.step_up.above.set = true and request.currency = request.step_up.above.currency and
    request.amount > request.step_up.above.amount;
step_up_asked(request, max_age) if
    step_up_set(request) and max_age = request.step_up.max_age and
    moves_money(request.action) and
    request.step_up.above.set = true and request.currency != request.step_up.above.currency;

# step_up_waived(request): the company asks for step-up, but not of this money move.
step_up_waived(request) if
    step_up_set(request) and moves_money(request.action) and
    request.step_up.above.set = false;
step_up_waived(request) if
    step_up_set(request) and moves_money(request.action) and
    request.step_up.above.set = true and request.currency = request.step_up.above.currency and
    request.amount <= request.step_up.above.amount;

# strongly_authenticated(authentication, max_age): the person's latest authentication used a
# strong method and was at most max_age seconds ago ...
strongly_authenticated(authentication, max_age) if
    authentication.set = true and uses_strong_method(authentication) and
    authentication.age <= max_age;

# ... and not_strongly_authenticated is its exact opposite: not known, no strong method, or
# too long ago.
not_strongly_authenticated(authentication, _max_age) if authentication.set = false;
not_strongly_authenticated(authentication, _max_age) if
    authentication.set = true and not uses_strong_method(authentication);
not_strongly_authenticated(authentication, max_age) if
    authentication.set = true and uses_strong_method(authentication) and
    authentication.age > max_age;

uses_strong_method(authentication) if
    method in authentication.methods and strong_method(method);
