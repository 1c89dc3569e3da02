# ===========================================================================
# VOCABULARY: every action, every built-in role and what each role carries, every
# condition and refusal in words. Read and signed by compliance.
#
# A permission at level "tenant" is about one corporate customer's accounts and
# people; a permission at level "bank" is held by bank staff only. An own action
# is one every signed-in person may take about themselves, with no role at all.
# Mandate reads this file to list actions and permissions in the API and the
# console: it is the one place the vocabulary is defined.
# ===========================================================================

# permission(name, level, what it lets a person do)
permission("account.read",      "tenant", "See accounts and their balances.");
permission("statement.read",    "tenant", "Read account statements: every entry, with the balance after it.");
permission("transfer.create",   "tenant", "Move money between the company's own accounts, within limits and time windows.");
permission("beneficiary.read",  "tenant", "See the company's beneficiaries (the payees it pays).");
permission("beneficiary.manage", "tenant", "Add, change and delete beneficiaries, and approve one another person added.");
permission("payment.create",    "tenant", "Pay beneficiaries from the company's accounts, within limits and time windows.");
permission("payment.approve",   "tenant", "Approve or reject payments other people prepared, within one's approval limit.");
permission("payment.cancel",    "tenant", "Cancel payments awaiting approval or their execution date that other people prepared.");
permission("approval_rule.read", "tenant", "See the rules that say which payments need whose approval.");
permission("approval_rule.manage", "tenant", "Set the company's approval rules, on top of the bank's minimums.");
permission("user.read",         "tenant", "See the company's users.");
permission("user.manage",       "tenant", "Create users, deactivate them and reset their passwords.");
permission("role.read",         "tenant", "See roles and the permissions they carry.");
permission("role.manage",       "tenant", "Create, change and delete custom roles.");
permission("grant.read",        "tenant", "See who holds which role, over which accounts, with which limits.");
permission("grant.manage",      "tenant", "Give, change and revoke grants (never one's own).");
permission("cap.read",          "tenant", "See the limit caps the bank set for the company.");
permission("authz.explain",     "tenant", "Ask why a person may or may not do something, and what would happen.");
permission("change_request.approve", "tenant", "See, approve and reject other people's requests to change users, roles, grants, rules and settings.");
permission("tenant_rule.read",  "tenant", "See the company's own rules: what the bank refuses for it beyond its platform rules, in words.");
permission("personal_data.read", "tenant", "See everything Mandate holds about one of the company's people (a GDPR access request).");
permission("personal_data.erase", "tenant", "Erase one of the company's people by pseudonymization (a GDPR erasure request); money records and the trail are kept.");
permission("decision.evaluate", "tenant", "As another service, ask whether a person may do something (AuthZEN): about people and resources within one's reach, answered as Mandate decides.");
permission("tenant.read",       "bank",   "See the bank's corporate customers.");
permission("tenant.manage",     "bank",   "Onboard corporate customers.");
permission("account.manage",    "bank",   "Open accounts, freeze, unfreeze and close them.");
permission("deposit.create",    "bank",   "Credit a customer's account from the clearing account.");
permission("withdrawal.create", "bank",   "Debit a customer's account to the clearing account.");
permission("cap.manage",        "bank",   "Set the bank's caps and each customer's caps on limits.");
permission("approval_minimum.manage", "bank", "Set the approval minimums every customer of the bank inherits.");
permission("decision.read",     "bank",   "Read the decision log: every money-moving, admin and refused decision.");
permission("policy.read",       "bank",   "Read the policy files as loaded, with their version.");
permission("change.read",       "bank",   "Read the history of changes to roles, grants and caps.");
permission("audit.read",        "bank",   "Read the audit evidence: the signed checkpoints of the hash chains, and the audit key.");
permission("audit.export",      "bank",   "Export a signed evidence bundle of a period's records, for an auditor to verify offline.");
permission("policy_version.read", "bank", "Read every version of the policy: its files, its diff against another, its impact on past decisions.");
permission("policy_version.propose", "bank", "Propose a new version of the policy (validated by its cases when proposed).");
permission("policy_version.approve", "bank", "Approve or reject a version of the policy another person proposed.");
permission("policy_version.activate", "bank", "Put an approved version of the policy in force (an earlier one again: a rollback).");
permission("token.introspect",  "tenant", "Ask whether an access token is active and whose it is (RFC 7662), as a resource server of another service does.");
permission("maintenance_window.read", "bank", "See the maintenance windows the bank announced.");
permission("maintenance_window.manage", "bank", "Announce maintenance windows (read-only or full) and cancel them.");

# scope(name, what a token with it lets an API client do): the OAuth 2.0 scopes an API client
# asks for at the token endpoint. A scope narrows what the client's grants allow and never
# widens it: an action needs both a grant that allows it and a scope of the token that covers it
# (decide.polar: scope_missing). A person's token has no scopes and is not narrowed.
scope("accounts:read",      "See accounts, their balances and statements.");
scope("beneficiaries:read", "See the company's beneficiaries.");
scope("payments:write",     "Move money: transfers between own accounts and payments to beneficiaries, and cancel them.");
scope("payments:approve",   "Approve and reject payments other people prepared.");
scope("decisions:evaluate", "Ask Mandate for its decisions about other principals.");
scope("tokens:introspect",  "Ask whether an access token is active (RFC 7662).");

# scope_covers(scope, permission): what each scope covers, the one place it is said.
scope_covers("accounts:read",      "account.read");
scope_covers("accounts:read",      "statement.read");
scope_covers("beneficiaries:read", "beneficiary.read");
scope_covers("payments:write",     "transfer.create");
scope_covers("payments:write",     "payment.create");
scope_covers("payments:write",     "payment.cancel");
scope_covers("payments:write",     "approval_rule.read");
scope_covers("payments:approve",   "payment.approve");
scope_covers("decisions:evaluate", "decision.evaluate");
scope_covers("tokens:introspect",  "token.introspect");

# scope_allows(scopes, action): a scope of the token covers the action, or the permission it
# goes with; seeing oneself (who am I) needs no scope.
scope_allows(_scopes, "self.read");
scope_allows(scopes, action) if scope in scopes and scope_covers(scope, action);
scope_allows(scopes, action) if
    goes_with(action, permission) and scope in scopes and scope_covers(scope, permission);

# own_action(name, what it lets a person do): no role carries it; everyone has it, about
# themselves only (decide.polar).
own_action("self.read", "See one's own profile and one's own activity.");
own_action("payment.cancel", "Cancel a payment one prepared, while it awaits approval or its execution date.");
own_action("personal_data.read", "See everything Mandate holds about oneself (a GDPR access request).");
own_action("self.manage", "Set up and remove one's own second factor (an authenticator app) and recovery codes.");

# goes_with(action, permission): an action every holder of the permission may take too.
goes_with("payment.reject", "payment.approve");
# Rejecting a proposed policy version is part of reviewing it.
goes_with("policy_version.reject", "policy_version.approve");
# Approving a beneficiary is part of managing them, with a condition of its own: not one's
# own (decide.polar).
goes_with("beneficiary.approve", "beneficiary.manage");
# Dual administration: who may approve change requests may see and reject them; compliance,
# which reads the change log, sees them too.
goes_with("change_request.reject", "change_request.approve");
goes_with("change_request.read", "change_request.approve");
goes_with("change_request.read", "change.read");

# action(name): everything Mandate asks the policy about.
action(name) if permission(name, _level, _meaning);
action(name) if own_action(name, _meaning) and not permission(name, _level, _other);
action(name) if goes_with(name, _permission);

# condition_text(reason, words): each check of a decision, named by the refusal it gives,
# as the console shows it (the conditions themselves: conditions.polar and tenancy.polar).
condition_text("not_found",               "Within reach (same company or bank)");
condition_text("counterparty_not_found",  "Other account allowed");
condition_text("missing_permission",      "Role carries the permission");
condition_text("grant_not_yet_valid",     "Grant already valid");
condition_text("grant_expired",           "Grant not yet expired");
condition_text("outside_time_window",     "Inside the time window");
condition_text("limit_currency_mismatch", "Limits in the account's currency");
condition_text("limit_per_transfer",      "Within the per-transfer limit");
condition_text("limit_daily",             "Within the daily limit");
condition_text("limit_monthly",           "Within the monthly limit");
condition_text("self_change_forbidden",   "Not the person's own access");
condition_text("role_not_assignable",     "Role may be given to this user");
condition_text("exceeds_cap",             "Within the caps");
condition_text("payment_not_pending",     "Payment awaits approval");
condition_text("self_approval_forbidden", "Not prepared or added by the person");
condition_text("already_approved",        "Not approved by the person already");
condition_text("approval_group_not_needed", "Fills a place the panel still has");
condition_text("approval_limit_exceeded", "Within the approval limit");
condition_text("approval_daily_limit_exceeded", "Within the daily approval limit");
condition_text("change_request_not_pending", "Change request awaits a decision");
condition_text("peer_required",           "Decided by a peer (the company's admins, the bank's staff, or for a policy version the staff of its author's bank)");
condition_text("own_change_request",      "Not requested by the person");
condition_text("change_grants_approver_rights", "Gives the person no new rights");
condition_text("approver_tied_to_requester", "Not tied to the requester lately");
condition_text("grantee_tied_to_approver", "Gives no rights to someone tied to the person");
condition_text("tenant_rule",             "Not refused by a rule the bank set for the company");
condition_text("step_up_required",        "Strong authentication recent enough");
condition_text("scope_missing",           "A scope of the API client's token covers the action");

# refusal_text(permission, sentence): what a person is told when none of their grants carries
# the permission (the refusal missing_permission).
refusal_text("account.read",      "Your roles do not let you see this account.");
refusal_text("statement.read",    "Your roles do not let you read this account's statement.");
refusal_text("transfer.create",   "Your roles do not let you send money from this account.");
refusal_text("beneficiary.read",  "Your roles do not let you see the company's beneficiaries.");
refusal_text("beneficiary.manage", "Your roles do not let you add, change or approve beneficiaries.");
refusal_text("beneficiary.approve", "Your roles do not let you approve beneficiaries.");
refusal_text("payment.create",    "Your roles do not let you pay beneficiaries from this account.");
refusal_text("payment.approve",   "Your roles do not let you approve payments from this account.");
refusal_text("payment.reject",    "Your roles do not let you reject payments from this account.");
refusal_text("payment.cancel",    "Only who prepared a payment, or a holder of payment.cancel, may cancel it.");
refusal_text("approval_rule.read", "Your roles do not let you see the approval rules.");
refusal_text("approval_rule.manage", "Your roles do not let you change the approval rules.");
refusal_text("user.read",         "Your roles do not let you see the company's users.");
refusal_text("user.manage",       "Your roles do not let you create, deactivate or reset the password of users.");
refusal_text("role.read",         "Your roles do not let you see roles.");
refusal_text("role.manage",       "Your roles do not let you create, change or delete roles.");
refusal_text("grant.read",        "Your roles do not let you see who holds which role.");
refusal_text("grant.manage",      "Your roles do not let you give, change or revoke grants.");
refusal_text("cap.read",          "Your roles do not let you see the caps the bank set.");
refusal_text("authz.explain",     "Your roles do not let you ask why a person may or may not do something.");
refusal_text("tenant.read",       "Your roles do not let you see the bank's corporate customers.");
refusal_text("tenant.manage",     "Your roles do not let you onboard corporate customers.");
refusal_text("account.manage",    "Your roles do not let you open, freeze, unfreeze or close accounts.");
refusal_text("deposit.create",    "Your roles do not let you credit this account from the clearing account.");
refusal_text("withdrawal.create", "Your roles do not let you debit this account to the clearing account.");
refusal_text("cap.manage",        "Your roles do not let you set caps on limits.");
refusal_text("approval_minimum.manage", "Your roles do not let you set the bank's approval minimums.");
refusal_text("decision.read",     "Your roles do not let you read the decision log.");
refusal_text("policy.read",       "Your roles do not let you read the policy.");
refusal_text("change.read",       "Your roles do not let you read the change log.");
refusal_text("audit.read",        "Your roles do not let you read the audit evidence.");
refusal_text("audit.export",      "Your roles do not let you export audit evidence.");
refusal_text("personal_data.read", "Your roles do not let you see everything held about this person.");
refusal_text("personal_data.erase", "Your roles do not let you erase people.");
refusal_text("change_request.approve", "Your roles do not let you approve change requests.");
refusal_text("change_request.reject", "Your roles do not let you reject change requests.");
refusal_text("change_request.read", "Your roles do not let you see change requests.");
refusal_text("tenant_rule.read",  "Your roles do not let you see the company's own rules.");
refusal_text("decision.evaluate", "Your roles do not let you ask for decisions about other people.");
refusal_text("policy_version.read", "Your roles do not let you read the versions of the policy.");
refusal_text("policy_version.propose", "Your roles do not let you propose a version of the policy.");
refusal_text("policy_version.approve", "Your roles do not let you approve versions of the policy.");
refusal_text("policy_version.reject", "Your roles do not let you reject versions of the policy.");
refusal_text("policy_version.activate", "Your roles do not let you put a version of the policy in force.");
refusal_text("token.introspect",  "Your roles do not let you introspect access tokens.");
refusal_text("maintenance_window.read", "Your roles do not let you see the maintenance windows.");
refusal_text("maintenance_window.manage", "Your roles do not let you announce or cancel maintenance windows.");

# restrictable(action): what a company's own rules (decide.polar: tenant_refuses) may refuse
# beyond the platform's rules: the actions that move its money or commit it to a payee.
restrictable("transfer.create");
restrictable("payment.create");
restrictable("payment.approve");
restrictable("beneficiary.manage");
restrictable("beneficiary.approve");

# Actions that move money: limits and time windows apply to these.
moves_money("transfer.create");
moves_money("deposit.create");
moves_money("withdrawal.create");
moves_money("payment.create");

# A custom role may carry any tenant permission that does not manage access itself:
# only corporate admins (and bank managers) shape who may do what.
composable(name) if
    permission(name, "tenant", _meaning) and
    not name in ["user.manage", "role.manage", "grant.manage", "authz.explain",
                 "approval_rule.manage", "change_request.approve", "personal_data.read",
                 "personal_data.erase", "decision.evaluate"];

# builtin_role(key, level, name, description): seeded as data for every tenant (level
# "tenant") or every bank (level "bank").
builtin_role("bookkeeper",         "tenant", "Bookkeeper",         "Reads accounts and statements; moves no money.");
builtin_role("payer",              "tenant", "Payer",              "Sends transfers between the company's accounts, within the limits and time window of the grant.");
builtin_role("approver",           "tenant", "Approver",           "Approves or rejects payments other people prepared, within the approval limit and group of the grant; sends nothing.");
builtin_role("corporate_admin",    "tenant", "Corporate admin",    "Manages the company's users, custom roles and grants, within the caps the bank set.");
builtin_role("bank_manager",       "bank",   "Bank manager",       "Bank staff: onboards customers, opens and freezes accounts, deposits and withdraws, sets caps.");
builtin_role("compliance_officer", "bank",   "Compliance officer", "Bank staff: reads everything, the policy, every decision and every change; moves nothing.");
# Another service that asks Mandate for decisions (AuthZEN) instead of re-implementing the
# rules: a company's (about its own people and resources) or the bank's (about its customers').
# It learns the answers, and acts on nothing itself.
builtin_role("decision_service",   "tenant", "Decision service",   "Another service of the company: asks whether the company's people may do something; does nothing itself.");
builtin_role("decision_service",   "bank",   "Decision service",   "Another service of the bank: asks whether people of the bank and its customers may do something; does nothing itself.");

builtin_carries("bookkeeper", permission) if permission in [
    "account.read", "statement.read", "beneficiary.read"];
builtin_carries("payer", permission) if permission in [
    "account.read", "statement.read", "transfer.create", "beneficiary.read", "payment.create",
    "approval_rule.read"];
builtin_carries("approver", permission) if permission in [
    "account.read", "statement.read", "beneficiary.read", "payment.approve",
    "approval_rule.read"];
builtin_carries("corporate_admin", permission) if permission in [
    "account.read", "statement.read", "user.read", "user.manage", "role.read", "role.manage",
    "grant.read", "grant.manage", "cap.read", "authz.explain", "beneficiary.read",
    "beneficiary.manage", "payment.cancel", "approval_rule.read", "approval_rule.manage",
    "change_request.approve", "tenant_rule.read", "personal_data.read"];
builtin_carries("bank_manager", permission) if permission in [
    "tenant.read", "tenant.manage", "account.read", "statement.read", "account.manage",
    "deposit.create", "withdrawal.create", "user.read", "user.manage", "role.read", "role.manage",
    "grant.read", "grant.manage", "cap.read", "cap.manage", "authz.explain", "beneficiary.read",
    "approval_rule.read", "approval_minimum.manage", "change_request.approve",
    "policy_version.read", "policy_version.propose", "policy_version.approve",
    "policy_version.activate", "tenant_rule.read", "token.introspect", "maintenance_window.read",
    "maintenance_window.manage"];
builtin_carries("decision_service", permission) if permission in ["decision.evaluate"];
builtin_carries("compliance_officer", permission) if permission in [
    "tenant.read", "account.read", "statement.read", "user.read", "role.read", "grant.read",
    "cap.read", "authz.explain", "decision.read", "policy.read", "change.read",
    "audit.read", "audit.export", "beneficiary.read", "approval_rule.read",
    "policy_version.read", "policy_version.propose", "policy_version.approve",
    "policy_version.activate", "tenant_rule.read", "personal_data.read",
    "personal_data.erase", "maintenance_window.read"];

# carries(grant, permission): the role of the grant carries the permission (or the
# permission an action goes with).
carries(grant, action) if goes_with(action, permission) and carries(grant, permission);
carries(grant, permission) if
    grant.role.builtin = true and builtin_carries(grant.role.key, permission);
carries(grant, permission) if
    grant.role.builtin = false and permission in grant.role.permissions and
    composable(permission);
