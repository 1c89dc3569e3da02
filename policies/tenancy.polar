# ===========================================================================
# RULES: tenancy, who can see what at all. Read and signed by compliance.
#
# A resource a person cannot see answers "not found", so its existence never
# leaks across tenants. Resources are at level "tenant" (one corporate customer's)
# or "bank" (the bank's own); customers act for their tenant, staff for their bank.
# ===========================================================================

# A customer's people see their own tenant's resources; bank staff see their bank's.
visible(actor, resource) if
    actor.kind = "customer" and
    resource.level = "tenant" and resource.tenant = actor.tenant;
visible(actor, resource) if
    actor.kind = "staff" and
    resource.bank = actor.bank;

# A grant speaks for its own tenant only; a bank-level grant for its own bank only.
grant_applies(grant, request) if
    request.actor.kind = "customer" and grant.role.level = "tenant" and
    grant.tenant = request.actor.tenant and grant.tenant = request.resource.tenant;
grant_applies(grant, request) if
    request.actor.kind = "staff" and grant.role.level = "bank" and
    grant.bank = request.actor.bank and grant.bank = request.resource.bank;

# Where money may go: customers move it between their own tenant's accounts, and pay
# beneficiaries at any account of the same bank (a book transfer) or elsewhere (through the
# bank's clearing account of that currency); bank staff move it between a customer account
# and the bank's clearing account of that currency.
counterparty_allowed(request) if
    request.action = "transfer.create" and
    request.counterparty.kind = "customer" and
    request.counterparty.tenant = request.resource.tenant;
counterparty_allowed(request) if
    request.action = "payment.create" and
    request.counterparty.kind = "customer" and
    request.counterparty.bank = request.resource.bank;
counterparty_allowed(request) if
    request.action = "payment.create" and
    request.counterparty.kind = "clearing" and
    request.counterparty.bank = request.resource.bank;
counterparty_allowed(request) if
    request.action in ["deposit.create", "withdrawal.create"] and
    request.counterparty.kind = "clearing" and
    request.counterparty.bank = request.resource.bank;

# Nobody changes their own access: their own grants, their own user, a role they hold.
own_access(request) if
    request.action = "grant.manage" and request.resource.grantee = request.actor.id;
own_access(request) if
    request.action = "user.manage" and
    request.resource.type = "user" and request.resource.id = request.actor.id;
own_access(request) if
    request.action = "role.manage" and request.resource.held_by_actor = true;
own_access(request) if
    request.action = "personal_data.erase" and
    request.resource.type = "user" and request.resource.id = request.actor.id;

# Which roles a grant may bind: a tenant's own roles to its users; bank roles, by staff,
# to staff.
assignable(request) if
    request.resource.role_level = "tenant" and request.resource.level = "tenant" and
    request.resource.role_tenant = request.resource.tenant;
assignable(request) if
    request.resource.role_level = "bank" and request.resource.level = "bank" and
    request.actor.kind = "staff";
