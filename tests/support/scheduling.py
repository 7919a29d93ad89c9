"""The parallel run's scheduler (tests/conftest.py's `pytest_xdist_make_scheduler`, scripts/test.sh)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from xdist.scheduler import LoadFileScheduling
from xdist.workermanage import WorkerController

REAL_NODE_SUITES = "tests/integration/realnode/"
# `make demo`'s e2e: on a machine with a real node the demo starts its own cluster with it, so it must not
# run while the real-node suites hold it. In their scope it runs first: a scope's tests go to its worker in
# the order they were collected, and tests/e2e comes before tests/integration.
DEMO_E2E = "tests/e2e/test_demo.py"


class FilesWithRealNodeSuitesTogether(LoadFileScheduling):
    """`--dist loadfile` (a file's tests on one worker, so a module's fixtures start once), except that
    every real-node suite, and the demo's e2e, go to the same worker: the machine has one real node."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith((REAL_NODE_SUITES, DEMO_E2E)):
            return REAL_NODE_SUITES
        return super()._split_scope(nodeid)

    def add_node_collection(self, node: WorkerController, collection: Sequence[str]) -> None:
        """Refuses tests that share a node id (schemathesis names each operation's test after the function):
        this scheduling keys tests by node id, so it would run one of them and drop the rest unsaid."""
        shared = sorted(nodeid for nodeid, n in Counter(collection).items() if n > 1)
        if shared:
            raise pytest.UsageError(
                f"tests sharing a node id, of which a parallel run would run one: {shared}; run their "
                "files in the serial part of scripts/test.sh (--ignore them in the parallel run)"
            )
        super().add_node_collection(node, collection)
