"""Tooling for tests and benchmarks (not installed with the product)."""
