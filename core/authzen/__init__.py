"""Decisions for other services: an AuthZEN 1.0 Policy Decision Point over Mandate's policy."""
