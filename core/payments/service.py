"""The payments' services, in one import for the faces (api/, admin/), the CLI and the tests:
payments and approvals (core.payments.payments), their previews (core.payments.preview),
reading them (core.payments.reading), approval rules (core.payments.rules), and what a face
offers before someone acts (core.payments.offers).
Each name is defined in one of them; this module only gathers them."""

from __future__ import annotations

from core.payments.offers import colleague_names, inbox_count, payment_choices
from core.payments.payments import (
    approve_payment,
    cancel_payment,
    create_payment,
    expire_payments,
    reject_payment,
    run_payments,
    settle_before_debit,
)
from core.payments.preview import preview_payment
from core.payments.reading import (
    get_payment,
    inbox,
    list_payments,
    payable_beneficiaries,
    payment_public,
)
from core.payments.rules import get_bank_rules, get_rules, put_bank_rules, put_rules

__all__ = [
    "approve_payment",
    "cancel_payment",
    "colleague_names",
    "create_payment",
    "expire_payments",
    "get_bank_rules",
    "get_payment",
    "get_rules",
    "inbox",
    "inbox_count",
    "list_payments",
    "payable_beneficiaries",
    "payment_choices",
    "payment_public",
    "preview_payment",
    "put_bank_rules",
    "put_rules",
    "reject_payment",
    "run_payments",
    "settle_before_debit",
]
