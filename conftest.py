"""Fixtures shared across suites: the operator on the local control plane (tests/support/fixtures.py)."""

from __future__ import annotations

from collections.abc import Generator

import pytest

pytest_plugins = ["tests.support.fixtures"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing operator test shows the operator's own log, not only the assertion."""
    report = yield
    operator = getattr(item, "funcargs", {}).get("operator")
    if report.failed and operator is not None and hasattr(operator, "tail"):
        report.sections.append(("operator log", operator.tail(40)))
    return report
