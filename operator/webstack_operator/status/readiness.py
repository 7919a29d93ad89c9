"""How far one workload is: ready and desired replicas, its image, and whether its rollout is done.

Read from the workload's own status alone (no pods), so the component conditions and the benchmark's
count of ready workloads agree on what "done" means.
"""

from __future__ import annotations

from dataclasses import dataclass

from webstack_operator.kube.jsondata import JSON


@dataclass(frozen=True)
class Readiness:
    ready: int
    desired: int
    image: str | None
    done: bool  # the controller has observed the latest spec and every replica is updated and available
    detail: str


def _image(obj: JSON) -> str | None:
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return str(containers[0].get("image")) if containers else None


def _generation_observed(obj: JSON) -> bool:
    return int(obj.get("status", {}).get("observedGeneration") or 0) >= int(
        obj["metadata"].get("generation") or 0
    )


def workload_readiness(obj: JSON | None) -> Readiness | None:
    """Deployments, StatefulSets and Rollouts report readiness alike enough to share one reading."""
    if obj is None:
        return None
    spec, status = obj.get("spec", {}), obj.get("status", {}) or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else status.get("replicas", 1))
    ready = int(status.get("availableReplicas", status.get("readyReplicas", 0)) or 0)
    if obj["kind"] == "StatefulSet":
        ready = int(status.get("availableReplicas", status.get("readyReplicas", 0)) or 0)
        updated = int(status.get("updatedReplicas", status.get("currentReplicas", 0)) or 0)
    else:
        updated = int(status.get("updatedReplicas", 0) or 0)
    seen = _generation_observed(obj)
    if obj["kind"] == "Rollout":
        # Argo Rollouts: Healthy means the stable ReplicaSet runs the desired template at full strength.
        phase = status.get("phase", "")
        done = seen and phase == "Healthy" and ready >= desired
        detail = f"Rollout {phase or 'not yet observed by Argo Rollouts'}"
        if status.get("message"):
            detail += f": {status['message']}"
    else:
        done = seen and ready >= desired and updated >= desired
        detail = f"{ready}/{desired} available" + (
            "" if seen else ", spec not yet observed by its controller"
        )
    return Readiness(min(ready, desired), desired, _image(obj), done, detail)
