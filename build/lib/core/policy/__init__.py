"""The policy seam: Python gathers facts, the Polar files in policies/ decide."""
