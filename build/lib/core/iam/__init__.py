"""Identity and access: banks, tenants, users, roles, grants, credentials, tokens."""
