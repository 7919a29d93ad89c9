"""What status reads: the stack's children as last seen, and what the reconcile itself found.

`observe` picks them out of the children the cache holds; everything else in this subpackage reads only
`Observed`, so a status rule is tested by building one by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.blockers import FailedCreate
from webstack_operator.observe.prerequisites import PrerequisiteCheck


class DecidedCondition(Protocol):
    """A condition decided elsewhere (the migration gate's `Migrated`): status only reads it."""

    @property
    def ok(self) -> bool | None: ...

    @property
    def reason(self) -> str: ...

    @property
    def message(self) -> str: ...


class DecidedRotation(DecidedCondition, Protocol):
    """The credentials rotation's `CredentialsRotated` condition and `status.credentials`, decided by the
    reconcile (reconcile/rotation_rules.py)."""

    @property
    def fields(self) -> JSON: ...


@dataclass(frozen=True)
class Observed:
    """Children as last seen (None when absent) and what the reconcile itself found."""

    generation: int
    backend: JSON | None = None  # a Rollout or a Deployment
    frontend: JSON | None = None
    database: JSON | None = None  # the Postgres StatefulSet (Managed only)
    cache: JSON | None = None  # the Redis Deployment (Managed only)
    rollouts_available: bool = True
    monitoring_available: bool = True
    velero_available: bool = True
    problem: Problem | None = None  # an apply that failed, or an invalid spec
    database_problem: Problem | None = None  # why Postgres cannot serve this stack (its credentials)
    invalid_spec: bool = False
    url: str | None = None
    migration: DecidedCondition | None = None  # the Migrated condition (None: no migration Job rendered)
    network_policies_desired: int = 0  # NetworkPolicies rendered for the stack
    network_policies_applied: int = 0  # of those, how many the cache has seen in the cluster
    schedule: JSON | None = None  # the Velero Schedule
    backups: tuple[JSON, ...] = ()  # the Backups Velero made from it (they carry its labels)
    dump: JSON | None = None  # the operator's own dump CronJob (backup.dump)
    last_drill: JSON | None = None  # status.backup.lastDrill: a drill just recorded, else the previous one
    # Per component, what its pods and claims show (dependents.py): claims first, then pods, by name.
    problems: Mapping[str, Sequence[Problem]] = field(default_factory=dict)
    failed_create: FailedCreate | None = None  # the database StatefulSet's newest FailedCreate Event
    prerequisites: PrerequisiteCheck = field(
        default_factory=PrerequisiteCheck
    )  # objects the spec names that the cluster lacks
    analysis_runs: tuple[JSON, ...] = ()  # the AnalysisRuns Argo Rollouts made from the Rollout
    rotation: DecidedRotation | None = None  # the credentials rotation (None: never asked for)


def observe(
    children: list[JSON],
    spec: WebStackSpec,
    *,
    name: str,
    generation: int,
    capabilities: Capabilities,
    problem: Problem | None,
    url: str | None,
    database_problem: Problem | None = None,
    migration: DecidedCondition | None = None,
    network_policies: frozenset[str] = frozenset(),
    problems: Mapping[str, Sequence[Problem]] | None = None,
    failed_creates: Mapping[str, FailedCreate] | None = None,
    prerequisites: PrerequisiteCheck | None = None,
    last_drill: JSON | None = None,
    rotation: DecidedRotation | None = None,
) -> Observed:
    """Picks the workloads status reads out of a stack's children. Two of one kind and name (in two
    namespaces) cannot be told apart, resourceVersions being opaque: neither is believed. `network_policies`
    names the NetworkPolicies the stack renders; status counts how many of them exist."""

    def find(kinds: tuple[str, ...], suffix: str) -> JSON | None:
        found = [o for o in children if o["kind"] in kinds and o["metadata"]["name"] == f"{name}-{suffix}"]
        return found[0] if len(found) == 1 else None

    canary = spec.backend.delivery.strategy == "Canary" and capabilities.argo_rollouts
    database = find(("StatefulSet",), "postgres")
    failed = (failed_creates or {}).get(database["metadata"]["name"]) if database is not None else None
    return Observed(
        generation=generation,
        backend=find(("Rollout",) if canary else ("Deployment",), "backend"),
        frontend=find(("Deployment",), "frontend"),
        database=database,
        cache=find(("Deployment",), "redis"),
        rollouts_available=capabilities.argo_rollouts,
        monitoring_available=capabilities.prometheus_operator,
        velero_available=capabilities.velero,
        problem=problem,
        database_problem=database_problem,
        invalid_spec=problem is not None and problem.reason == "InvalidSpec",
        url=url,
        migration=migration,
        network_policies_desired=len(network_policies),
        network_policies_applied=sum(
            1 for o in children if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] in network_policies
        ),
        schedule=next((o for o in children if o["kind"] == "Schedule"), None),
        backups=tuple(o for o in children if o["kind"] == "Backup"),
        dump=find(("CronJob",), "dump"),
        last_drill=last_drill,
        problems=problems or {},
        failed_create=failed,
        prerequisites=prerequisites or PrerequisiteCheck(),
        analysis_runs=tuple(o for o in children if o["kind"] == "AnalysisRun"),
        rotation=rotation,
    )
