"""Benchmarks: scripts that measure, never tests."""
