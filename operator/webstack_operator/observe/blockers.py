"""Why a component is short of ready pods, in the words of the objects that know.

A Deployment or Rollout says it in its own conditions (`ReplicaFailure` when its ReplicaSet cannot create
pods, `Progressing=False ProgressDeadlineExceeded`); a StatefulSet has no such condition, only the
controller's `FailedCreate` Events; pods say `Unschedulable` or why a container waits (an image that cannot
be pulled, a crash loop); a volume claim stays `Pending`. These functions turn each into a `Problem` naming
the object. Pure: the dependents cache keeps only the pods and claims they find a problem in, so a healthy
stack costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from webstack_operator.api.problem import Problem
from webstack_operator.kube.jsondata import JSON

# Container waiting reasons that do not resolve by waiting (ContainerCreating and PodInitializing do).
STUCK_WAITING = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True, slots=True)
class FailedCreate:
    """The newest `FailedCreate` Event of a StatefulSet: which one (its UID) and what the apiserver said."""

    uid: str
    message: str
    at: str  # the Event's last time (RFC 3339), to keep the newest of several


def _name(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _conditions(obj: JSON) -> list[JSON]:
    return list((obj.get("status") or {}).get("conditions") or [])


def pod_problem(pod: JSON) -> Problem | None:
    """A pod that will not become ready by itself: not schedulable, or a container stuck waiting."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    name = _name(pod)
    for c in _conditions(pod):
        if (c.get("type"), c.get("status"), c.get("reason")) == ("PodScheduled", "False", "Unschedulable"):
            why = c.get("message") or "no node fits"
            return Problem("Unschedulable", f"pod {name} cannot be scheduled: {why}")
    status = pod.get("status") or {}
    for c in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (c.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in STUCK_WAITING:
            detail = waiting.get("message") or _last_exit(c)
            message = f"pod {name} container {c.get('name', '?')} is in {reason}"
            return Problem(str(reason), f"{message}: {detail}" if detail else message)
    return None


def _last_exit(container: JSON) -> str:
    ended = (container.get("lastState") or {}).get("terminated") or {}
    if not ended:
        return ""
    why = ended.get("message") or ended.get("reason") or ""
    return f"last exit code {ended.get('exitCode', '?')}" + (f" ({why})" if why else "")


def claim_problem(claim: JSON) -> Problem | None:
    """A volume claim not bound yet: its pod cannot start."""
    meta, status = claim.get("metadata") or {}, claim.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase", "Pending") != "Pending":
        return None
    storage_class = (claim.get("spec") or {}).get("storageClassName")
    where = f"StorageClass {storage_class}" if storage_class else "no StorageClass: the cluster's default"
    return Problem(
        "ClaimPending",
        f"PersistentVolumeClaim {_name(claim)} is Pending ({where}): no volume is bound to it",
    )


def workload_failure(workload: JSON) -> Problem | None:
    """A Deployment's or Rollout's `ReplicaFailure`: its ReplicaSet cannot create pods (quota, admission, a
    missing PriorityClass...), with the apiserver's own words."""
    for c in _conditions(workload):
        if c.get("type") == "ReplicaFailure" and c.get("status") == "True":
            reason = str(c.get("reason") or "ReplicaFailure")
            return Problem(reason, f"{workload.get('kind')} {_name(workload)}: {c.get('message') or reason}")
    return None


def statefulset_failure(workload: JSON, failed: FailedCreate | None) -> Problem | None:
    """A StatefulSet's failed creates, while it has fewer pods than it wants (a later success ends it)."""
    if failed is None or workload.get("kind") != "StatefulSet":
        return None
    if failed.uid != (workload.get("metadata") or {}).get("uid"):
        return None  # an Event of an earlier StatefulSet of the same name
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    desired = spec.get("replicas")
    if int(status.get("replicas") or 0) >= int(1 if desired is None else desired):
        return None
    return Problem("FailedCreate", f"StatefulSet {_name(workload)}: {failed.message}")


def deadline_exceeded(workload: JSON) -> Problem | None:
    """`Progressing=False ProgressDeadlineExceeded`: the controller gave up waiting (said last: a pod's
    own reason, when there is one, says why)."""
    for c in _conditions(workload):
        if c.get("type") == "Progressing" and c.get("status") == "False":
            reason = str(c.get("reason") or "ProgressDeadlineExceeded")
            return Problem(reason, f"{workload.get('kind')} {_name(workload)}: {c.get('message') or reason}")
    return None


def component_blocker(
    workload: JSON | None, problems: Sequence[Problem], failed: FailedCreate | None = None
) -> Problem | None:
    """The one reason that best explains why a component is not available: the workload's own failure
    first (nothing else can be wrong with pods that do not exist), then its claims' and pods' problems
    (`problems`, claims first, as the dependents cache orders them), then a passed progress deadline."""
    if workload is None:
        return None
    own = workload_failure(workload) or statefulset_failure(workload, failed)
    if own is not None:
        return own
    if problems:
        first = problems[0]
        more = len(problems) - 1
        return first if not more else Problem(first.reason, f"{first.message} (and {more} more)")
    return deadline_exceeded(workload)
