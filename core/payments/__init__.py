"""Payments to third parties under dual control: beneficiaries, payments, holds, approvals."""
