# ---------------------------------------------------------------------------
# Tenancy: who can see what at all. A resource a person cannot see answers
# "not found", so its existence never leaks across tenants.
# ---------------------------------------------------------------------------

# A customer's people see their own tenant's resources; bank staff see their bank's.
visible(actor, resource) if
    actor.kind = "customer" and actor.tenant != 0 and resource.tenant = actor.tenant;
visible(actor, resource) if
    actor.kind = "staff" and resource.bank = actor.bank;

# A grant speaks for its own tenant only; a bank-level grant for its own bank only.
grant_applies(g, r) if
    r.actor.kind = "customer" and g.role.level = "tenant" and
    g.tenant = r.actor.tenant and g.tenant = r.resource.tenant;
grant_applies(g, r) if
    r.actor.kind = "staff" and g.role.level = "bank" and
    g.bank = r.actor.bank and g.bank = r.resource.bank;

# Where money may go: customers move it between their own tenant's accounts; bank staff
# move it between a customer account and the bank's clearing account of that currency.
counterparty_allowed(r) if
    r.action = "transfer.create" and
    r.counterparty.kind = "customer" and r.counterparty.tenant = r.resource.tenant;
counterparty_allowed(r) if
    r.action in ["deposit.create", "withdrawal.create"] and
    r.counterparty.kind = "clearing" and r.counterparty.bank = r.resource.bank;

# Nobody changes their own access: their own grants, their own user, a role they hold.
own_access(r) if r.action = "grant.manage" and r.resource.grantee = r.actor.id;
own_access(r) if r.action = "user.manage" and r.resource.type = "user" and r.resource.id = r.actor.id;
own_access(r) if r.action = "role.manage" and r.resource.held_by_actor = true;

# Which roles a grant may bind: a tenant's own roles to its users; bank roles, by staff,
# to staff.
assignable(r) if
    r.resource.role_level = "tenant" and r.resource.tenant != 0 and
    r.resource.role_tenant = r.resource.tenant;
assignable(r) if
    r.resource.role_level = "bank" and r.resource.tenant = 0 and r.actor.kind = "staff";
