"""The parallel run's scheduling (tests/support/scheduling.py): a file's tests together, the real-node
suites as one, and tests xdist could not tell apart refused rather than silently run once."""

from __future__ import annotations

from typing import Any, cast

import pytest
from tests.support.scheduling import REAL_NODE_SUITES, FilesWithRealNodeSuitesTogether


def _scheduler() -> FilesWithRealNodeSuitesTogether:
    return FilesWithRealNodeSuitesTogether.__new__(FilesWithRealNodeSuitesTogether)  # no workers needed


def test_the_real_node_suites_are_one_scope_and_other_files_their_own() -> None:
    scope = _scheduler()._split_scope
    node, stack = "test_node.py::test_a", "test_demo_stack.py::test_b[x]"
    assert scope(REAL_NODE_SUITES + node) == scope(REAL_NODE_SUITES + stack) == REAL_NODE_SUITES
    assert scope("tests/e2e/test_demo.py::test_c") == "tests/e2e/test_demo.py"
    assert scope("tests/e2e/test_demo.py::test_c") != scope("tests/e2e/test_ui_browser.py::test_c")


def test_tests_sharing_a_node_id_are_refused_naming_them() -> None:
    shared = "tests/integration/users_api/test_users_api_contract.py::test_every_operation_keeps_the_contract"
    with pytest.raises(pytest.UsageError, match=r"sharing a node id.*test_every_operation"):
        _scheduler().add_node_collection(cast(Any, None), [shared, "tests/x.py::test_y", shared])
