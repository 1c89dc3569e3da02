"""Dual administration: a change to who may do what, asked by one person and applied only
when a second one approves it (core.governance.service), and the governed operations the faces
call instead of core.iam's and core.payments' own (core.governance.operations)."""
