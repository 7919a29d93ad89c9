"""Children as the label-selected watches saw them, slimmed, indexed by the stack that owns them.

Labels are what the watches filter on, never proof of whose an object is: anyone may write them in any
namespace. An object is indexed under a stack of its own namespace only (the WebStack its controller
reference names, else its instance label), or, for the kinds living elsewhere, under the stack its labels
name when it carries a stack UID and sits in the one namespace the stack writes there; `children` keeps
the live WebStack's by UID (`ownership.members`).

Only what reconcile, drift detection and status read is kept: identity and owner metadata, our own
annotations and a hash of our managed-fields entry, for workloads their replicas, image and status, and for
Services the one selector key Argo Rollouts sets.
A ConfigMap carrying the whole UI costs a few hundred bytes here, not its data. Everything held for a
stack (its children's keys, tombstones, what we last wrote) is released when the stack is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import child_kind
from webstack_operator.objects.ownership import (
    belongs_to,
    controller_of,
    is_webstack,
    lives_elsewhere,
    members,
)
from webstack_operator.objects.stamps import (
    Applied,
    ArrivalOrder,
    ObjectKey,
    key_of,
    our_fields_hash,
    resource_version,
)

StackKey = tuple[str, str]  # namespace, name

WORKLOADS = frozenset({"Deployment", "StatefulSet", "Rollout"})
JOBS = frozenset({"Job", "CronJob"})  # their status: whether a migration ran, when the last dump did
BACKUPS = frozenset({"Backup"})  # Velero's, made from the stack's Schedule: status reads their outcome
_BACKUP_STATUS = ("phase", "startTimestamp", "completionTimestamp")
DATED = frozenset({"Schedule", "Backup"})  # backup health is judged from their creation time
ANALYSIS_RUNS = frozenset({"AnalysisRun"})  # Argo Rollouts', from the Rollout: why a canary passed or failed
_RUN_STATUS = ("phase", "message", "startedAt")
_RUN_METRIC = ("name", "phase", "count", "successful", "failed", "inconclusive", "error", "message")
_KEPT_METADATA = ("name", "namespace", "uid", "resourceVersion", "generation", "ownerReferences")
ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"  # which pod template an AnalysisRun judged
ROLLOUT_REVISION = "rollout.argoproj.io/revision"  # which revision of the Rollout a run belongs to
_KEPT_LABELS = (
    labels.INSTANCE,
    labels.MANAGED_BY,
    labels.STACK_NAMESPACE,
    labels.STACK_UID,
    ROLLOUT_HASH_LABEL,
)
_OUR_ANNOTATIONS = "webstack.dev/"


@dataclass(frozen=True, slots=True)
class Seen:
    """One child as last seen: the slimmed object and the hash of the fields our manager owns in it."""

    obj: JSON
    fields_hash: str


def _rendered(obj: JSON) -> bool:
    """Whether the operator writes this kind: only those can be deleted behind its back (drift); Velero's
    Backups and Argo's AnalysisRuns come and go with their own controllers' retention."""
    row = child_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    return row is not None and row.rendered


def stack_of(obj: JSON) -> StackKey | None:
    """The stack an object may be a child of, never one of another namespace: in its own namespace, the
    WebStack its controller reference names, else (an earlier stack's leftover, a pod, what another
    controller made from a child) its instance label; for a kind living elsewhere, the stack its labels
    name, only with a stack UID label (`ownership.belongs_to` then judges that UID)."""
    meta = obj.get("metadata", {})
    lbl = meta.get("labels") or {}
    namespace = meta.get("namespace", "")
    if lives_elsewhere(obj):
        instance, home = lbl.get(labels.INSTANCE), lbl.get(labels.STACK_NAMESPACE)
        managed = lbl.get(labels.MANAGED_BY) == labels.MANAGED_BY_VALUE
        return (home, instance) if managed and instance and home and lbl.get(labels.STACK_UID) else None
    controller = controller_of(obj)
    if controller is not None and is_webstack(controller) and controller.get("name"):
        return (namespace, str(controller["name"]))
    instance = lbl.get(labels.INSTANCE)
    if not instance or lbl.get(labels.MANAGED_BY) != labels.MANAGED_BY_VALUE:
        return None
    if lbl.get(labels.STACK_NAMESPACE, namespace) != namespace:
        return None  # labelled for a stack of another namespace: not a child of any stack
    return (namespace, instance)


def slim(obj: JSON) -> JSON:
    """The parts of a child the operator reads again; the rest stays in the apiserver."""
    meta = obj.get("metadata", {})
    kept: JSON = {k: meta[k] for k in _KEPT_METADATA if k in meta}
    lbl = meta.get("labels") or {}
    kept["labels"] = {k: lbl[k] for k in _KEPT_LABELS if k in lbl}
    ours = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith(_OUR_ANNOTATIONS) or k == ROLLOUT_REVISION
    }
    if ours:
        kept["annotations"] = ours
    out: JSON = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": kept}
    if obj.get("kind") in WORKLOADS:
        spec = obj.get("spec") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        out["spec"] = {"replicas": spec.get("replicas")}
        if containers:
            out["spec"]["template"] = {"spec": {"containers": [{"image": containers[0].get("image")}]}}
        out["status"] = obj.get("status") or {}
    elif obj.get("kind") == "Service":
        pod_hash = ((obj.get("spec") or {}).get("selector") or {}).get(ROLLOUT_HASH_LABEL)
        if pod_hash is not None:  # Argo Rollouts' key: the next render keeps it (pod_template_hashes)
            out["spec"] = {"selector": {ROLLOUT_HASH_LABEL: pod_hash}}
    elif obj.get("kind") in JOBS:
        out["status"] = obj.get("status") or {}
    elif obj.get("kind") in BACKUPS:
        status = obj.get("status") or {}
        out["status"] = {k: status[k] for k in _BACKUP_STATUS if k in status}
    elif obj.get("kind") in ANALYSIS_RUNS:
        out["status"] = slim_run_status(obj.get("status") or {})
    if obj.get("kind") in DATED and "creationTimestamp" in meta:
        kept["creationTimestamp"] = meta["creationTimestamp"]
    return out


def pod_template_hashes(children: list[JSON]) -> dict[str, str]:
    """Service name -> the `rollouts-pod-template-hash` Argo Rollouts put in that Service's selector.

    Argo Rollouts points a canary's stable and canary Services at one ReplicaSet each by adding this key to
    their selector. A selector is one atomic map for server-side apply, so the operator renders the key
    back as it finds it (builders/backend.py): its apply then equals what is there and takes nothing from
    Argo, instead of removing the key and fighting Argo for the selector."""
    hashes = {}
    for obj in children:
        selector = (obj.get("spec") or {}).get("selector") or {} if obj.get("kind") == "Service" else {}
        if isinstance(selector.get(ROLLOUT_HASH_LABEL), str):
            hashes[obj["metadata"]["name"]] = selector[ROLLOUT_HASH_LABEL]
    return hashes


def slim_run_status(status: JSON) -> JSON:
    """An AnalysisRun's phase and, per metric, its counts and last measurement (not its whole history)."""
    kept: JSON = {k: status[k] for k in _RUN_STATUS if k in status}
    metrics = []
    for result in status.get("metricResults") or []:
        metric: JSON = {k: result[k] for k in _RUN_METRIC if k in result}
        measurements = result.get("measurements") or []
        if measurements:
            last = measurements[-1]
            metric["last"] = {k: last[k] for k in ("phase", "value", "finishedAt") if k in last}
        metrics.append(metric)
    if metrics:
        kept["metricResults"] = metrics
    return kept


@dataclass
class _StackEntry:
    children: set[ObjectKey] = field(default_factory=set)
    tombstones: set[ObjectKey] = field(default_factory=set)  # deleted by someone while the stack lived
    applied: dict[ObjectKey, Applied] = field(default_factory=dict)
    live: bool = False
    uid: str = ""  # of the live WebStack: a child of an earlier one of the same name going away is no drift


class ChildCache:
    """What the watches saw, per stack. Events for stacks the operator does not know are still indexed
    (a re-created stack finds its retained children), but leave no tombstones behind."""

    def __init__(self, elsewhere: str | None = None) -> None:
        """`elsewhere`: the one namespace stacks write the kinds living elsewhere in (Velero's); such an
        object in any other namespace is no stack's. None: not restricted (tests, tools)."""
        self._seen: dict[ObjectKey, Seen] = {}
        self._stacks: dict[StackKey, _StackEntry] = {}
        self._elsewhere = elsewhere
        self._order: ArrivalOrder[ObjectKey] = ArrivalOrder()  # which copy is newer, by arrival

    def _stack_of(self, obj: JSON) -> StackKey | None:
        outside = self._elsewhere is not None and obj.get("metadata", {}).get("namespace") != self._elsewhere
        return None if lives_elsewhere(obj) and outside else stack_of(obj)

    # -- what the watches report
    def upsert(self, obj: JSON, *, answer: bool = False, listed: bool = False) -> StackKey | None:
        """A watch event; `answer`: our own write's answer (every write's answer must say so, or a late
        watch event could stick, see stamps.ArrivalOrder); `listed`: an item of a full list."""
        owner = self._stack_of(obj)
        if owner is None:
            return None
        key = key_of(obj)
        current = self._seen.get(key)
        order = self._order.listed if listed else self._order.answered if answer else self._order.watched
        newer = order(key, resource_version(obj))
        if current is None or newer:
            self._seen[key] = Seen(slim(obj), our_fields_hash(obj))
        before = stack_of(current.obj) if current is not None else None
        if before is not None and before != owner and before in self._stacks:
            self._stacks[before].children.discard(key)  # its owner reference or label changed stacks
        entry = self._stacks.setdefault(owner, _StackEntry())
        entry.children.add(key)
        entry.tombstones.discard(key)
        return owner

    def remove(self, obj: JSON) -> StackKey | None:
        owner = self._stack_of(obj)
        key = key_of(obj)
        self._seen.pop(key, None)
        self._order.forget(key)
        if owner is None or owner not in self._stacks:
            return owner
        entry = self._stacks[owner]
        entry.children.discard(key)
        if entry.live and belongs_to(obj, owner[0], entry.uid) and _rendered(obj):
            entry.tombstones.add(key)
        elif entry.live:  # an earlier WebStack's child, collected with it
            entry.applied.pop(key, None)
        else:
            entry.applied.pop(key, None)
            if not entry.children:
                del self._stacks[owner]
        return owner

    def resync(
        self, api_version: str, kind: str, items: list[JSON], *, namespace: str | None = None
    ) -> set[StackKey]:
        """A full list of one kind (in one `namespace`, None: in every namespace): anything cached there but
        absent was deleted while the watch was down. Other namespaces' children are another list's."""
        present = {key_of(i) for i in items}
        touched: set[StackKey] = set()
        for key, seen in list(self._seen.items()):
            if key[:2] == (api_version, kind) and namespace in (None, key[2]) and key not in present:
                owner = self.remove(seen.obj)
                if owner is not None:
                    touched.add(owner)
        for item in items:
            owner = self.upsert(item, listed=True)
            if owner is not None:
                touched.add(owner)
        return touched

    # -- what the reconcile reads and records
    def track(self, stack: StackKey, uid: str) -> None:
        """The stack exists: deletions of its children are drift from now on (those of an earlier WebStack
        of the same name, which garbage collection removes, are not)."""
        entry = self._stacks.setdefault(stack, _StackEntry())
        entry.live, entry.uid = True, uid

    def forget(self, stack: StackKey) -> None:
        """The stack is gone: release what was kept for it (children that still exist stay indexed)."""
        entry = self._stacks.get(stack)
        if entry is None:
            return
        if entry.children:
            self._stacks[stack] = _StackEntry(children=entry.children)
        else:
            del self._stacks[stack]

    def get(self, key: ObjectKey) -> Seen | None:
        return self._seen.get(key)

    def children(self, stack: StackKey) -> list[JSON]:
        """The children of the WebStack tracked as `stack`, by its UID (`ownership.members`): not an earlier
        WebStack's being collected, not labelled objects nobody controls (those stay indexed for `get`)."""
        entry = self._stacks.get(stack)
        if entry is None or not entry.uid:
            return []
        indexed = [self._seen[k].obj for k in sorted(entry.children) if k in self._seen]
        return members(indexed, stack[0], entry.uid)

    def released(self, stack: StackKey) -> list[JSON]:
        """What the WebStack tracked as `stack` let go on an edit (transitions.py), still in its namespace:
        no longer its children (no owner reference), but named in its `Orphaned` condition until deleted."""
        entry = self._stacks.get(stack)
        if entry is None or not entry.uid:
            return []
        indexed = (self._seen[k].obj for k in sorted(entry.children) if k in self._seen)
        return [
            o
            for o in indexed
            if o["metadata"].get("namespace") == stack[0]
            and (o["metadata"].get("annotations") or {}).get(labels.ORPHANED_FROM) == entry.uid
        ]

    def deleted_by_someone(self, stack: StackKey, key: ObjectKey) -> bool:
        entry = self._stacks.get(stack)
        return entry is not None and key in entry.tombstones

    def applied(self, stack: StackKey, key: ObjectKey) -> Applied | None:
        entry = self._stacks.get(stack)
        return entry.applied.get(key) if entry else None

    def wrote(self, stack: StackKey, result: JSON, record: Applied) -> None:
        """Our own write, as the apiserver answered it (the watch event may come later)."""
        self.upsert(result, answer=True)
        self._stacks.setdefault(stack, _StackEntry()).applied[key_of(result)] = record

    def pruned(self, stack: StackKey, obj: JSON) -> None:
        key = key_of(obj)
        self._seen.pop(key, None)
        self._order.forget(key)
        entry = self._stacks.get(stack)
        if entry is not None:
            entry.children.discard(key)
            entry.tombstones.discard(key)
            entry.applied.pop(key, None)

    def sizes(self) -> tuple[int, int]:
        """(children, stacks) held: what a memory test watches return to its baseline."""
        return len(self._seen), len(self._stacks)
