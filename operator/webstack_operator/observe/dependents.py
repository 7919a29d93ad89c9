"""What the stacks' workloads made, or failed to make: pods, volume claims, a StatefulSet's failed creates.

Watched like children (pods and claims by the stack's labels, which their templates copy, in the stack's
own namespace only; Events by a field selector: `FailedCreate` of StatefulSets only, recorded in the
StatefulSet's namespace), but never written. Only problems are kept: a pod or claim is
reduced to the `Problem` blockers.py sees in it, and dropped once it has none, so a healthy stack costs
nothing here. A change is reported only when a stack's problems change, so a pod becoming ready does not
wake its stack's reconcile (its workload's status does that).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from webstack_operator.api.problem import Problem
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.stamps import ObjectKey, key_of
from webstack_operator.observe.blockers import FailedCreate, claim_problem, pod_problem
from webstack_operator.observe.cache import StackKey, stack_of

POD = ("v1", "Pod")
CLAIM = ("v1", "PersistentVolumeClaim")
EVENT = ("v1", "Event")
# The StatefulSet controller records a pod (or claim) it cannot create only as an Event, no condition.
EVENT_FIELD_SELECTOR = "involvedObject.kind=StatefulSet,reason=FailedCreate"
COMPONENTS = frozenset({labels.BACKEND, labels.FRONTEND, labels.DATABASE, labels.CACHE})
WorkloadRef = tuple[str, str]  # namespace, name of the StatefulSet an Event is about


@dataclass(frozen=True, slots=True)
class DependentProblem:
    """A pod's or claim's problem, kept under the stack and component it belongs to."""

    stack: StackKey
    component: str
    problem: Problem


def problem_of(obj: JSON) -> DependentProblem | None:
    """A pod's or claim's problem, for the component it belongs to; None when it has none (or is no
    component's: the migration Job's pods are reported by the Migrated condition)."""
    stack = stack_of(obj)
    component = ((obj.get("metadata") or {}).get("labels") or {}).get(labels.COMPONENT)
    if stack is None or component not in COMPONENTS:
        return None
    problem = pod_problem(obj) if obj.get("kind") == POD[1] else claim_problem(obj)
    return DependentProblem(stack, str(component), problem) if problem is not None else None


def failed_create_of(event: JSON) -> tuple[WorkloadRef, FailedCreate] | None:
    involved = event.get("involvedObject") or {}
    if involved.get("kind") != "StatefulSet" or event.get("reason") != "FailedCreate":
        return None
    series = event.get("series") or {}
    at = max(
        str(t)
        for t in (
            event.get("lastTimestamp"),
            event.get("eventTime"),
            series.get("lastObservedTime"),
            (event.get("metadata") or {}).get("creationTimestamp"),
            "",
        )
        if t
    )
    namespace = event["metadata"].get("namespace", "")
    if involved.get("namespace", namespace) != namespace:
        return None  # the StatefulSet controller records in the StatefulSet's namespace; anyone else, not
    ref = (str(namespace), str(involved.get("name")))
    return ref, FailedCreate(str(involved.get("uid") or ""), str(event.get("message") or ""), at)


class DependentsCache:
    def __init__(self) -> None:
        self._problems: dict[ObjectKey, DependentProblem] = {}
        self._by_stack: dict[StackKey, set[ObjectKey]] = {}
        self._failed: dict[WorkloadRef, tuple[str, FailedCreate]] = {}  # with the Event's name

    # -- pods and claims
    def saw(self, etype: str, obj: JSON) -> StackKey | None:
        """A watch event of a pod or claim; returns the stack whose problems changed."""
        key = key_of(obj)
        new = None if etype == "DELETED" else problem_of(obj)
        old = self._problems.get(key)
        if new == old:
            return None
        if old is not None:
            self._drop(key, old)
        if new is not None:
            self._problems[key] = new
            self._by_stack.setdefault(new.stack, set()).add(key)
        changed = new or old
        return changed.stack if changed is not None else None

    def resync(self, api_version: str, kind: str, namespace: str | None, items: list[JSON]) -> set[StackKey]:
        """A full list of pods or claims (in one namespace, None: every namespace)."""
        present = {key_of(i) for i in items}
        touched: set[StackKey] = set()
        for key, old in list(self._problems.items()):
            if key[:2] == (api_version, kind) and namespace in (None, key[2]) and key not in present:
                self._drop(key, old)
                touched.add(old.stack)
        for item in items:
            stack = self.saw("ADDED", item)
            if stack is not None:
                touched.add(stack)
        return touched

    def _drop(self, key: ObjectKey, old: DependentProblem) -> None:
        del self._problems[key]
        keys = self._by_stack.get(old.stack)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_stack[old.stack]

    def problems(self, stack: StackKey) -> dict[str, list[Problem]]:
        """Per component, claims first (a pod waits for its volume), each kind by name."""
        found: dict[str, list[Problem]] = {}
        for key in sorted(self._by_stack.get(stack, ()), key=lambda k: (k[1] != CLAIM[1], k[3])):
            t = self._problems[key]
            found.setdefault(t.component, []).append(t.problem)
        return found

    # -- the StatefulSet controller's failed creates
    def saw_event(self, etype: str, event: JSON) -> WorkloadRef | None:
        """A watch event of a FailedCreate Event; returns the StatefulSet whose failure changed."""
        found = failed_create_of(event)
        if found is None:
            return None
        ref, failed = found
        name = str(event["metadata"].get("name", ""))
        current = self._failed.get(ref)
        if etype == "DELETED":
            if current is None or current[0] != name:
                return None
            del self._failed[ref]
            return ref
        if current is not None and (current[1] == failed or current[1].at > failed.at):
            return None
        self._failed[ref] = (name, failed)
        return ref

    def resync_events(self, namespace: str | None, items: Iterable[JSON]) -> set[WorkloadRef]:
        before = {ref: v for ref, v in self._failed.items() if namespace in (None, ref[0])}
        for ref in before:
            del self._failed[ref]
        for item in items:
            self.saw_event("ADDED", item)
        after = {ref: v for ref, v in self._failed.items() if namespace in (None, ref[0])}
        return {ref for ref in before.keys() | after.keys() if before.get(ref) != after.get(ref)}

    def failed_create(self, namespace: str, statefulset: str) -> FailedCreate | None:
        found = self._failed.get((namespace, statefulset))
        return found[1] if found else None

    def sizes(self) -> tuple[int, int]:
        """(pods and claims with a problem, StatefulSets with a failed create) held."""
        return len(self._problems), len(self._failed)
