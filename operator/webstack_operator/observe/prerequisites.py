"""Objects a spec names that the cluster must already have: the stack never creates them.

The PriorityClass of its pods (admission refuses every pod without it), the StorageClass of the database
volume (the claim stays Pending), the IngressClass (no controller serves the Ingress), and the SecretStore
or ClusterSecretStore of an ExternalSecret (the credentials Secret never comes). Their names are watched
(`ClusterObjects`) so a missing one is said the moment the stack names it, and cleared the moment it is
created. A missing one does not hold the apply back: the apiserver accepts the workloads, and holding them
would also hold every unrelated change of a running stack; the condition says what to do.

Unknown is not absent: a kind never listed (its read refused, or not watched by a namespaced operator,
which has no cluster-wide rights) is not checked, and never reported missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.kube.jsondata import JSON

PRIORITY_CLASS = ("scheduling.k8s.io/v1", "PriorityClass")
STORAGE_CLASS = ("storage.k8s.io/v1", "StorageClass")
INGRESS_CLASS = ("networking.k8s.io/v1", "IngressClass")
SECRET_STORE = ("external-secrets.io/v1", "SecretStore")
CLUSTER_SECRET_STORE = ("external-secrets.io/v1", "ClusterSecretStore")
KINDS = (PRIORITY_CLASS, STORAGE_CLASS, INGRESS_CLASS, SECRET_STORE, CLUSTER_SECRET_STORE)

Exists = Callable[[str, str, str], bool | None]  # kind, namespace ("" cluster-scoped), name -> None: unknown


@dataclass(frozen=True)
class Reference:
    """One object the spec names: where (`field`), what, and what happens without it."""

    field: str
    kind: str
    name: str
    namespace: str  # "" for a cluster-scoped kind
    consequence: str

    @property
    def reason(self) -> str:
        return f"{self.kind}NotFound"

    def describe(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name}{where}"

    def problem(self) -> Problem:
        return Problem(
            self.reason,
            f"{self.field} names the {self.describe()}, which this cluster does not have: "
            f"{self.consequence}. Create it or change the field; the stack goes on by itself once it exists",
        )


def references(spec: WebStackSpec, namespace: str, capabilities: Capabilities) -> list[Reference]:
    """What the spec names and the cluster must have, in the order the stack would trip over them."""
    found: list[Reference] = []
    if spec.security.priority_class_name:
        found.append(
            Reference(
                "spec.security.priorityClassName",
                PRIORITY_CLASS[1],
                spec.security.priority_class_name,
                "",
                "the apiserver refuses every pod of the stack",
            )
        )
    db = spec.database
    if db.mode == "Managed" and db.storage.storage_class_name:
        found.append(
            Reference(
                "spec.database.storage.storageClassName",
                STORAGE_CLASS[1],
                db.storage.storage_class_name,
                "",
                "the database volume stays Pending and Postgres never starts",
            )
        )
    external = db.credentials.external_secret
    if external is not None and capabilities.external_secrets:  # no API: credentials_rules.py says so
        store = external.store_ref
        found.append(
            Reference(
                "spec.database.credentials.externalSecret.storeRef",
                store.kind,
                store.name,
                namespace if store.kind == SECRET_STORE[1] else "",
                "External Secrets cannot make the credentials Secret, and the pods wait for it",
            )
        )
    if spec.ingress.enabled:
        found.append(
            Reference(
                "spec.ingress.className",
                INGRESS_CLASS[1],
                spec.ingress.class_name,
                "",
                "no ingress controller serves the Ingress, so the stack is not reachable from outside",
            )
        )
    return found


@dataclass(frozen=True)
class PrerequisiteCheck:
    missing: tuple[Problem, ...] = ()
    unchecked: tuple[str, ...] = ()  # objects that could not be looked for (their kind is not readable)
    found: tuple[str, ...] = ()


def check(refs: Iterable[Reference], exists: Exists) -> PrerequisiteCheck:
    missing: list[Problem] = []
    unchecked: list[str] = []
    found: list[str] = []
    for ref in refs:
        there = exists(ref.kind, ref.namespace, ref.name)
        if there is None:
            unchecked.append(ref.describe())
        elif there:
            found.append(ref.describe())
        else:
            missing.append(ref.problem())
    return PrerequisiteCheck(tuple(missing), tuple(unchecked), tuple(found))


class ClusterObjects:
    """Names of the objects of `KINDS`, as their watches listed them; nothing else of them is kept."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], set[str]] = {}  # (kind, namespace or "") -> names
        self._listed: set[tuple[str, str | None]] = set()  # (kind, watched namespace; None: every one)

    def saw(self, etype: str, obj: JSON) -> bool:
        """A watch event; True when the set of names changed."""
        meta = obj.get("metadata") or {}
        names = self._names.setdefault((str(obj.get("kind")), meta.get("namespace", "")), set())
        name = str(meta.get("name"))
        if etype == "DELETED":
            if name not in names:
                return False
            names.discard(name)
            return True
        if name in names:
            return False
        names.add(name)
        return True

    def resync(self, kind: str, namespace: str | None, items: list[JSON]) -> bool:
        """A full list of one kind (in one namespace; None: in every namespace or cluster-scoped)."""
        before = {k: set(v) for k, v in self._names.items() if k[0] == kind and namespace in (None, k[1])}
        for key in before:
            del self._names[key]
        for item in items:
            item.setdefault("kind", kind)
            self.saw("ADDED", item)
        after = {k: v for k, v in self._names.items() if k[0] == kind and namespace in (None, k[1]) and v}
        self._listed.add((kind, namespace))
        return {k: v for k, v in before.items() if v} != after

    def exists(self, kind: str, namespace: str, name: str) -> bool | None:
        """Whether the object exists; None when its kind was never listed where it lives."""
        if (kind, None) not in self._listed and (not namespace or (kind, namespace) not in self._listed):
            return None
        return name in self._names.get((kind, namespace), ())
