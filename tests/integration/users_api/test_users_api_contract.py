"""The OpenAPI document is the contract: schemathesis drives the real `users-api serve` with it, 0 failures.

All four phases, as a client generator or a new user would try the API: the document's examples, the
coverage of every boundary and every wrong value, fuzzing, and stateful sequences that follow the links
(create, then read, update, delete what was created). Every check is on, among them: schema-valid
requests are accepted, invalid ones refused with a 4xx, each response's status, media type, headers and
body are the documented ones, a 405 lists every method of the path, and a deleted user stays gone.

The seed is fixed and the number of cases bounded, so a run is reproducible and fits CI; a failure
prints the request to replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from tests.support.users_api import empty_users_table

from localservices import PostgresServer, RedisServer, UsersApiServer
from users_api.openapi import build_openapi

pytestmark = pytest.mark.services

SEED = 13
# Per operation and phase: about 500 requests in all, the scale at which the issue found its failures.
MAX_EXAMPLES = 40
STATEFUL_SCENARIOS = 25
STATEFUL_STEPS = 10

CONFIG = f"""
seed = {SEED}

[generation]
max-examples = {MAX_EXAMPLES}
# No example database: nothing is replayed from earlier runs, so the seed alone decides a run.
database = "none"

[phases]
examples.enabled = true
coverage.enabled = true
fuzzing.enabled = true
stateful.enabled = true

[checks]
enabled = true
"""

# The document as built for `/openapi.json`; the first test shows the server serves exactly this.
schema = schemathesis.openapi.from_dict(build_openapi(), config=SchemathesisConfig.from_str(CONFIG))


@pytest.fixture(scope="module", autouse=True)
def no_users_before_or_after(postgres: PostgresServer, redis_server: RedisServer) -> Iterator[None]:
    """Also leaves no users behind for the tests that do not empty the table first."""
    empty_users_table(postgres, redis_server)
    yield
    empty_users_table(postgres, redis_server)


def test_the_served_document_is_the_one_tested(api: UsersApiServer) -> None:
    assert httpx.get(f"{api.url}/openapi.json").json() == build_openapi()


@schema.parametrize()
def test_every_operation_keeps_the_contract(case: schemathesis.Case, api: UsersApiServer) -> None:
    case.call_and_validate(base_url=api.url)


def test_sequences_of_operations_keep_the_contract(
    api: UsersApiServer, postgres: PostgresServer, redis_server: RedisServer
) -> None:
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # The same steps must meet the same state: Hypothesis replays scenarios and would otherwise see
            # a create that succeeded once fail the next time (409), and call the strategy flaky.
            empty_users_table(postgres, redis_server)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": api.url}

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            database=None,
            deadline=None,
        )
    )
