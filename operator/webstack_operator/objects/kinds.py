"""The one table of child kinds: what the builders may render, and everything the operator derives from it.

Watching (which kinds to list and watch), discovery (which optional API a kind proves installed), the apply
order and pruning (which kinds may be deleted, and where they live) all read this table, so adding a kind
is one line here plus its builder.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from webstack_operator.config.operator_settings import Capabilities


@dataclass(frozen=True)
class ChildKind:
    """One kind of child object.

    `capability` names the `Capabilities` field whose API serves this kind (None: always served).
    `elsewhere` marks kinds living outside the stack's namespace, which no owner reference can reach:
    deleting the stack must delete them itself. `rendered=False` marks kinds another controller makes from
    a child and labels like it (Velero's Backups, from the Schedule; Argo Rollouts' AnalysisRuns, from
    the Rollout): watched so status can read them, never applied, pruned or deleted by the operator.
    `create_only` marks generated credentials: created once, never patched, never pruned. `write_once`
    marks kinds the apiserver will not let us patch where it matters (a Job's pod template is immutable):
    created when missing, never patched while ours, pruned like any child once no longer desired.
    """

    api_version: str
    kind: str
    capability: str | None = None
    create_only: bool = False
    write_once: bool = False
    elsewhere: bool = False
    rendered: bool = True

    @property
    def optional(self) -> bool:
        return self.capability is not None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


# In apply order: identities and configuration before the workloads that mount them, policies before pods
# start, Services before the pods that resolve them (nginx resolves its upstream once, at start), the
# AnalysisTemplate before the Rollout that names it, the migration Job before the backend it gates, the
# workload before its autoscaler, the optional APIs last.
CHILD_KINDS: tuple[ChildKind, ...] = (
    ChildKind("v1", "ServiceAccount"),
    ChildKind("v1", "Secret", create_only=True),
    ChildKind("bitnami.com/v1alpha1", "SealedSecret", capability="sealed_secrets"),
    ChildKind("external-secrets.io/v1", "ExternalSecret", capability="external_secrets"),
    ChildKind("v1", "ConfigMap"),
    ChildKind("networking.k8s.io/v1", "NetworkPolicy"),
    ChildKind("v1", "Service"),
    ChildKind("apps/v1", "StatefulSet"),
    ChildKind("argoproj.io/v1alpha1", "AnalysisTemplate", capability="argo_rollouts"),
    ChildKind("batch/v1", "Job", write_once=True),
    ChildKind("batch/v1", "CronJob"),
    ChildKind("apps/v1", "Deployment"),
    ChildKind("argoproj.io/v1alpha1", "Rollout", capability="argo_rollouts"),
    ChildKind("argoproj.io/v1alpha1", "AnalysisRun", capability="argo_rollouts", rendered=False),
    ChildKind("autoscaling/v2", "HorizontalPodAutoscaler"),
    ChildKind("policy/v1", "PodDisruptionBudget"),
    ChildKind("networking.k8s.io/v1", "Ingress"),
    ChildKind("monitoring.coreos.com/v1", "ServiceMonitor", capability="prometheus_operator"),
    ChildKind("monitoring.coreos.com/v1", "PrometheusRule", capability="prometheus_operator"),
    ChildKind("velero.io/v1", "Schedule", capability="velero", elsewhere=True),
    ChildKind("velero.io/v1", "Backup", capability="velero", elsewhere=True, rendered=False),
)

_BY_KEY = {(k.api_version, k.kind): k for k in CHILD_KINDS}
_RANK = {k.kind: rank for rank, k in enumerate(CHILD_KINDS)}


def child_kind(api_version: str, kind: str) -> ChildKind | None:
    """The table's row for a kind, or None when the operator never renders it."""
    return _BY_KEY.get((api_version, kind))


def apply_rank(kind: str) -> int:
    """Where a kind goes in the apply order."""
    return _RANK[kind]


def capabilities_from(served: set[tuple[str, str]]) -> Capabilities:
    """Which optional APIs are installed, given the (apiVersion, kind) pairs the cluster serves: an API
    counts only when it serves every kind the builders render from it."""
    found: dict[str, bool] = {}
    for k in CHILD_KINDS:
        if k.capability is not None:
            found[k.capability] = found.get(k.capability, True) and (k.api_version, k.kind) in served
    assert set(found) == {f.name for f in fields(Capabilities)}, "every capability needs a kind"
    return Capabilities(**found)


def settle_capabilities(
    previous: Capabilities | None, seen: Capabilities, absent_before: frozenset[str]
) -> tuple[Capabilities, frozenset[str]]:
    """What counts as installed after a successful discovery, and what it showed absent.

    An API that appears counts at once; one that was installed counts as gone only when two successful
    discoveries in a row show it absent, so a blip never swaps a canary stack's Rollout for a Deployment.
    With no previous look (`None`), the first discovery is taken as it is.
    """
    absent = frozenset(f.name for f in fields(Capabilities) if not getattr(seen, f.name))
    if previous is None:
        return seen, absent
    settled = {
        f.name: getattr(seen, f.name) or (f.name not in absent_before and getattr(previous, f.name))
        for f in fields(Capabilities)
    }
    return Capabilities(**settled), absent
