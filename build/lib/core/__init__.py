"""Mandate's domain: ledger, identity and the policy seam. Imports no web framework."""
