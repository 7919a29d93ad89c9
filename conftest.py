"""Fixtures shared across suites: the operator on the local control plane (tests/support/fixtures.py)."""

pytest_plugins = ["tests.support.fixtures"]
