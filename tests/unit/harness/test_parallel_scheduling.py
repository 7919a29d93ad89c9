"""The parallel run's scheduling (tests/support/scheduling.py): a file's tests together, the real-node
suites as one, and tests xdist could not tell apart refused rather than silently run once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from tests.support.scheduling import DEMO_E2E, REAL_NODE_SUITES, FilesWithRealNodeSuitesTogether

ROOT = Path(__file__).resolve().parents[3]


def _scheduler() -> FilesWithRealNodeSuitesTogether:
    return FilesWithRealNodeSuitesTogether.__new__(FilesWithRealNodeSuitesTogether)  # no workers needed


def test_the_real_node_suites_are_one_scope_and_other_files_their_own() -> None:
    scope = _scheduler()._split_scope
    node, stack = "test_node.py::test_a", "test_demo_stack.py::test_b[x]"
    assert scope(REAL_NODE_SUITES + node) == scope(REAL_NODE_SUITES + stack) == REAL_NODE_SUITES
    assert scope("tests/e2e/test_ui_browser.py::test_c") == "tests/e2e/test_ui_browser.py"
    assert scope("tests/e2e/test_ui_browser.py::test_c") != scope("tests/e2e/test_api.py::test_c")


def test_the_demo_e2e_runs_with_the_real_node_suites_before_them() -> None:
    """`make demo` takes the machine's real node for its own cluster: on the suites' worker, first, while
    the session's cluster has not started its node (the `real_node` fixture starts it at the first ask)."""
    scope = _scheduler()._split_scope
    assert scope(f"{DEMO_E2E}::test_demo_end_to_end_in_a_browser") == REAL_NODE_SUITES
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=ROOT,
        # A collection of its own, not a worker's (tests/conftest.py refuses zz_final on a worker).
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    ).stdout.splitlines()
    in_scope = [nodeid for nodeid in listed if scope(nodeid) == REAL_NODE_SUITES]
    first_suite = next(i for i, nodeid in enumerate(in_scope) if nodeid.startswith(REAL_NODE_SUITES))
    demo = [i for i, nodeid in enumerate(in_scope) if nodeid.startswith(DEMO_E2E)]
    assert demo and max(demo) < first_suite, in_scope[:8]


def test_tests_sharing_a_node_id_are_refused_naming_them() -> None:
    shared = "tests/integration/users_api/test_users_api_contract.py::test_every_operation_keeps_the_contract"
    with pytest.raises(pytest.UsageError, match=r"sharing a node id.*test_every_operation"):
        _scheduler().add_node_collection(cast(Any, None), [shared, "tests/x.py::test_y", shared])
