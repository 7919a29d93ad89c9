"""The operator's ClusterRole is sufficient and minimal, checked for real.

The base (deploy/operator) is installed by server-side apply, and the operator runs as a local process with
a token of its ServiceAccount (TokenRequest), so every request it makes is authorized by the installed role.

- Sufficient: the full sample, in a namespace enforcing the `restricted` Pod Security Standard, reaches
  Ready; an update prunes objects (one in Velero's namespace); deleting the WebStack completes (finalizer);
  and the operator's log holds no RBAC denial at all.
- Minimal: each case removes one rule (or one verb of a rule), runs a fresh operator against a fresh
  stack, and finds in the operator's log the exact failure that grant prevents, then restores the role.
  Every rule and every verb of the role must be named by a case (the first test checks that).
- The leader-election Role (role.yaml, in webstack-system) likewise: each of its verbs, and the Role as a
  whole, is removed in turn; without it the operator never leads, so no stack is reconciled.

Only one operator may run against the cluster: the shared one is stopped for this module.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.fixtures import apply_doc
from tests.support.operator import SAMPLES, OperatorProcess, events, get_json, operators_on, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices.server import LOOPBACK
from webstack_operator.builders.drill import scratch_namespace_name
from webstack_operator.reconcile.drill_action import DRILL_ANNOTATION

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy" / "operator"
ROLE = yaml.safe_load((BASE / "clusterrole.yaml").read_text())
LEASE_ROLE = yaml.safe_load((BASE / "role.yaml").read_text())
OPERATOR_NAMESPACE, OPERATOR_ACCOUNT = "webstack-system", "webstack-operator"
LEASE = "webstack-operator"
# The operator elects a leader on a Lease in its own namespace, as in the pod (POD_NAMESPACE there).
LEASE_ENV = {"WEBSTACK_LEASE_NAMESPACE": OPERATOR_NAMESPACE}
USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
CASE_TIMEOUT = 90.0
APPS = ("deployments", "statefulsets")  # one rule; a verb removed from it fails for whichever comes first
FULL, SEALED, MINIMAL = "webstack-full.yaml", "webstack-full-sealed.yaml", "webstack-minimal.yaml"


def rule_key(rule: dict[str, Any]) -> str:
    """`<group>/<first resource>`, `core` for the core group: how a case names the rule it removes."""
    return f"{rule['apiGroups'][0] or 'core'}/{rule['resources'][0]}"


def forbidden(verb: str, *resources: str, group: str = "") -> str:
    """The apiserver's own wording of an RBAC denial (quotes may arrive escaped), for any of `resources`."""
    q = r'\\?"'
    names = "|".join(re.escape(r) for r in resources)
    return rf"cannot {verb} resource {q}(?:{names}){q} in API group {q}{re.escape(group)}{q}"


@dataclass(frozen=True)
class Case:
    """Remove `verbs` from the rule `rule` (all of it when empty); the log must then match `expect`, which
    shows that the verb `shows` is needed."""

    rule: str
    breaks: str  # what the operator can no longer do, for the reader and the failure message
    expect: str
    verbs: tuple[str, ...] = ()
    shows: str = ""  # the verb a whole-rule case demonstrates; a verb case shows the verb it removes
    sample: str = FULL
    scenario: str = "create"  # create | prune (cache Disabled after the first apply) | conflict | drill...

    @property
    def id(self) -> str:
        return self.rule + (f"-{'-'.join(self.verbs)}" if self.verbs else "")

    @property
    def shown_verb(self) -> str:
        return self.verbs[0] if self.verbs else self.shows


def child_case(rule: dict[str, Any], sample: str = FULL) -> Case:
    """A child rule removed: the operator cannot list (watch) those kinds, so it cannot see what it owns,
    and it holds every reconcile until its watches have listed once (they never do)."""
    resources = rule["resources"]
    expect = forbidden("list", *resources, group=rule["apiGroups"][0])
    return Case(rule_key(rule), f"{', '.join(resources)} are never seen", expect, shows="list", sample=sample)


CHILD_VERBS = {"list", "watch", "get", "create", "patch", "delete"}
OBSERVED_ONLY = {"velero.io/backups", "argoproj.io/analysisruns"}
CHILD_RULES = [r for r in ROLE["rules"] if set(r["verbs"]) == CHILD_VERBS]

CASES = [
    # Whole rules: the operator cannot do its job without each.
    Case(
        "webstack.dev/webstacks",
        "kopf cannot list WebStacks: no stack is ever reconciled",
        forbidden("list", "webstacks", group="webstack.dev"),
        shows="list",
    ),
    Case(
        "webstack.dev/webstacks/status",
        "status is never written: the stack never reports a phase",
        forbidden("patch", "webstacks/status", group="webstack.dev"),
        shows="patch",
    ),
    Case(
        "apiextensions.k8s.io/customresourcedefinitions",
        "kopf cannot follow CRDs: an optional API installed later (Argo Rollouts...) is never watched",
        forbidden("list", "customresourcedefinitions", group="apiextensions.k8s.io"),
        shows="list",
    ),
    Case("core/events", "no Events on the WebStack", forbidden("create", "events"), shows="create"),
    Case(
        "core/secrets",
        "the credentials Secret is never seen",
        forbidden("list", "secrets"),
        shows="list",
        sample=MINIMAL,
    ),
    *[
        child_case(
            rule,
            "webstack-full-sealed.yaml"
            if rule_key(rule) == "bitnami.com/sealedsecrets"
            else "webstack-full.yaml",
        )
        for rule in CHILD_RULES
    ],
    # Made by other controllers from a child, read for status only (the kinds table's rendered=False).
    *[child_case(rule) for rule in ROLE["rules"] if rule_key(rule) in OBSERVED_ONLY],
    # Single verbs, on one representative rule per verb set (every child rule has the same verbs, and
    # tests/unit/delivery/test_deploy.py ties each watched kind to such a rule).
    Case(
        "apps/deployments",
        "Deployments are never listed: the operator cannot see them",
        forbidden("list", *APPS, group="apps"),
        verbs=("list",),
    ),
    Case(
        "apps/deployments",
        "Deployments are listed once, never watched: drift goes unnoticed",
        forbidden("watch", *APPS, group="apps"),
        verbs=("watch",),
    ),
    Case(
        "apps/deployments",
        "a name the watches have not seen cannot be checked for someone else's object before the write",
        forbidden("get", *APPS, group="apps"),
        verbs=("get",),
    ),
    Case(
        "apps/deployments",
        "server-side apply cannot create a Deployment that does not exist yet",
        forbidden("create", *APPS, group="apps"),
        verbs=("create",),
    ),
    Case(
        "apps/deployments",
        "server-side apply cannot write Deployments",
        forbidden("patch", *APPS, group="apps"),
        verbs=("patch",),
    ),
    Case(
        "apps/deployments",
        "a Deployment no longer desired (Redis, cache Disabled) cannot be pruned",
        forbidden("delete", *APPS, group="apps"),
        verbs=("delete",),
        sample=MINIMAL,
        scenario="prune",
    ),
    Case(
        "core/secrets",
        "a Secret holding the credentials' name cannot be checked for its owner: it might be taken over",
        forbidden("get", "secrets"),
        verbs=("get",),
        sample=MINIMAL,
        scenario="conflict",
    ),
    Case(
        "core/secrets",
        "a Secret the user hands over (webstack.dev/adopt) cannot be adopted; owner references cannot "
        "follow deletionPolicy",
        forbidden("patch", "secrets"),
        verbs=("patch",),
        sample=MINIMAL,
        scenario="adopt",
    ),
    Case(
        "core/persistentvolumeclaims",
        "the database volume cannot be checked before credentials are generated",
        forbidden("get", "persistentvolumeclaims"),
        shows="get",
        sample=MINIMAL,
    ),
    Case(
        "core/secrets",
        "the generated database credentials cannot be created",
        forbidden("create", "secrets"),
        verbs=("create",),
        sample=MINIMAL,
    ),
    Case(
        "core/secrets",
        "Secrets are listed once, never watched: a deleted credentials Secret goes unnoticed",
        forbidden("watch", "secrets"),
        verbs=("watch",),
        sample=MINIMAL,
    ),
    # What status reads and never writes: the stacks' pods, claims and FailedCreate Events, and the objects a
    # spec names. A refused list is logged with the apiserver's words; that kind is then unknown to status.
    Case(
        "core/pods",
        "status cannot name an unschedulable pod or a container stuck waiting",
        forbidden("list", "pods"),
        shows="list",
    ),
    Case(
        "core/pods",
        "pods are listed once, never watched: a pod that starts failing later goes unnamed",
        forbidden("watch", "pods"),
        verbs=("watch",),
    ),
    Case(
        "core/events",
        "a StatefulSet's failed creates (only Events say them) cannot be named",
        forbidden("list", "events"),
        verbs=("list",),
    ),
    Case(
        "core/events",
        "FailedCreate Events are listed once, never watched",
        forbidden("watch", "events"),
        verbs=("watch",),
    ),
    Case(
        "core/persistentvolumeclaims",
        "a claim stuck Pending cannot be named",
        forbidden("list", "persistentvolumeclaims"),
        verbs=("list",),
    ),
    Case(
        "core/persistentvolumeclaims",
        "claims are listed once, never watched",
        forbidden("watch", "persistentvolumeclaims"),
        verbs=("watch",),
    ),
    Case(
        "scheduling.k8s.io/priorityclasses",
        "a missing PriorityClass cannot be named before the pods fail",
        forbidden("list", "priorityclasses", group="scheduling.k8s.io"),
        shows="list",
    ),
    Case(
        "storage.k8s.io/storageclasses",
        "a missing StorageClass cannot be named before the volume waits",
        forbidden("list", "storageclasses", group="storage.k8s.io"),
        shows="list",
    ),
    Case(
        "networking.k8s.io/ingressclasses",
        "a missing IngressClass cannot be named",
        forbidden("list", "ingressclasses", group="networking.k8s.io"),
        shows="list",
    ),
    Case(
        "external-secrets.io/secretstores",
        "a missing SecretStore or ClusterSecretStore cannot be named",
        forbidden("list", "secretstores", "clustersecretstores", group="external-secrets.io"),
        shows="list",
    ),
    Case(
        "webstack.dev/webstacks",
        "kopf cannot add its finalizer or progress annotations",
        forbidden("patch", "webstacks", group="webstack.dev"),
        verbs=("patch",),
    ),
    Case(
        "webstack.dev/webstacks",
        "kopf lists WebStacks once but never sees a change",
        forbidden("watch", "webstacks", group="webstack.dev"),
        verbs=("watch",),
    ),
    Case(
        "apiextensions.k8s.io/customresourcedefinitions",
        "kopf lists CRDs but cannot follow them",
        forbidden("watch", "customresourcedefinitions", group="apiextensions.k8s.io"),
        verbs=("watch",),
    ),
    # Restore drills (scenario `drill`: a stack with backup.dump asks for one; `drill-leftover`: the last
    # drill's scratch namespace is still there and must go first).
    Case(
        "core/namespaces",
        "a restore drill cannot see whether the last drill's scratch namespace is gone",
        forbidden("get", "namespaces"),
        shows="get",
        scenario="drill",
    ),
    Case(
        "core/namespaces",
        "a restore drill cannot create its scratch namespace",
        forbidden("create", "namespaces"),
        verbs=("create",),
        scenario="drill",
    ),
    Case(
        "core/namespaces",
        "a restore drill cannot apply its scratch namespace",
        forbidden("patch", "namespaces"),
        verbs=("patch",),
        scenario="drill",
    ),
    Case(
        "core/namespaces",
        "a drill's scratch namespace (and the data restored into it) cannot be deleted",
        forbidden("delete", "namespaces"),
        verbs=("delete",),
        scenario="drill-leftover",
    ),
]


def without(case: Case) -> dict[str, Any]:
    """The installed ClusterRole minus what the case removes."""
    role = copy.deepcopy(ROLE)
    rules = []
    for rule in role["rules"]:
        if rule_key(rule) == case.rule:
            if not case.verbs:
                continue
            rule["verbs"] = [v for v in rule["verbs"] if v not in case.verbs]
        rules.append(rule)
    role["rules"] = rules
    return dict(role)


def can_i(cluster: KubeTarget, verb: str, rule: dict[str, Any]) -> bool:
    group, resource = rule["apiGroups"][0], rule["resources"][0]
    subresource: list[str] = []
    if "/" in resource:
        resource, sub = resource.split("/", 1)
        subresource = [f"--subresource={sub}"]
    target = f"{resource}.{group}" if group else resource
    result = cluster.kubectl("auth", "can-i", verb, target, *subresource, f"--as={USER}", "-A", check=False)
    return result.stdout.strip() == "yes"


def apply_role(cluster: KubeTarget, role: dict[str, Any], case: Case, *, allowed: bool) -> None:
    """Applies the role and waits until the authorizer has it (RBAC is cached in the apiserver)."""
    cluster.apply(role)
    rule = next(r for r in ROLE["rules"] if rule_key(r) == case.rule)
    verb = (case.verbs or tuple(rule["verbs"]))[0]
    eventually(
        lambda: can_i(cluster, verb, rule) == allowed,
        timeout=30,
        what=f"can-i {verb} {case.rule} == {allowed}",
    )


class UnwaitedOperator(OperatorProcess):
    """Started without waiting for /healthz: with a rule missing, it may never get healthy."""

    def _healthy(self) -> bool:
        return True


@dataclass
class Rbac:
    cluster: KubeTarget
    kubeconfig: Path
    log_dir: Path

    def namespace(self) -> str:
        name = f"rbac-{uuid.uuid4().hex[:8]}"
        manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        }
        self.cluster.apply(manifest)
        return name


def stack_doc(sample: str, namespace: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / sample).read_text())
    doc["metadata"]["namespace"] = namespace
    return dict(doc)


def forget_lease(cluster: KubeTarget, namespace: str = OPERATOR_NAMESPACE) -> None:
    """Deletes the Lease a stopped operator left behind (a stopped holder does not release it), so that the
    next operator leads at once instead of waiting for it to expire."""
    cluster.kubectl("delete", "lease", LEASE, "-n", namespace, "--ignore-not-found")


def healthz_role(proc: OperatorProcess) -> str:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{proc.liveness_port}/healthz", timeout=2) as r:
        return str(json.load(r)["role"])


@pytest.fixture(scope="module")
def rbac(
    platform: KubeTarget, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rbac]:
    """The base installed; the shared operator stopped meanwhile; a kubeconfig of the operator's account."""
    platform.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(BASE))
    platform.wait_established(["webstacks.webstack.dev"])
    kubeconfig = platform.mint_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_ACCOUNT)
    operator.stop()
    # An operator with admin credentials would make every result here meaningless.
    others = operators_on(platform.kubeconfig_path)
    assert not others, (
        f"other operators still run against this cluster (pids {others}): one shared fixture only"
    )
    forget_lease(platform)
    try:
        yield Rbac(platform, kubeconfig, tmp_path_factory.mktemp("rbac"))
    finally:
        platform.apply(ROLE)
        platform.apply(LEASE_ROLE)
        forget_lease(platform)
        # The shared operator's own Lease (`default` without POD_NAMESPACE), held when it was stopped.
        forget_lease(platform, operator.extra_env.get("WEBSTACK_LEASE_NAMESPACE", "default"))
        operator.start()
        eventually(
            lambda: healthz_role(operator),
            until=lambda r: r == "leader",
            timeout=30,
            what="shared operator leads",
        )


def test_every_rule_and_verb_is_named_by_a_case() -> None:
    """Each rule has a whole-rule case; each verb of each rule is shown to be needed by a case on that rule
    or on a rule with the same verb set (the same code path: kopf's watch, server-side apply, prune)."""
    keys = [rule_key(r) for r in ROLE["rules"]]
    assert len(keys) == len(set(keys)), "two rules share a key"
    whole = {c.rule for c in CASES if not c.verbs}
    assert whole == set(keys), (
        f"rules without a case: {set(keys) - whole}; cases without a rule: {whole - set(keys)}"
    )
    verbs_of = {rule_key(r): frozenset(r["verbs"]) for r in ROLE["rules"]}
    for key, verbs in verbs_of.items():
        same_verbs = {k for k, v in verbs_of.items() if v == verbs}
        shown = {c.shown_verb for c in CASES if c.rule in same_verbs}
        assert verbs <= shown, f"{key}: no case shows that {sorted(verbs - shown)} is needed"


@pytest.mark.cluster
def test_the_installed_role_is_enough_for_the_full_sample(rbac: Rbac) -> None:
    cluster, ns = rbac.cluster, rbac.namespace()
    doc = stack_doc("webstack-full.yaml", ns)
    name = doc["metadata"]["name"]
    proc = OperatorProcess(rbac.kubeconfig, rbac.log_dir, env=LEASE_ENV).start()
    try:
        apply_doc(cluster, doc)
        wait_phase(cluster, ns, name, timeout=180)
        reasons = {e["reason"] for e in events(cluster, ns, name)}
        assert "Created" in reasons, reasons  # Events are posted
        selector = f"webstack.dev/stack-namespace={ns},app.kubernetes.io/instance={name}"
        [found] = get_json(cluster, "schedules.velero.io", "-n", "velero", "-l", selector)["items"]
        schedule = found["metadata"]["name"]
        # An update that prunes: the dashboard ConfigMap in the namespace, the Schedule in Velero's.
        doc["spec"]["monitoring"]["dashboard"] = False
        doc["spec"]["backup"]["enabled"] = False
        apply_doc(cluster, doc)
        wait_phase(cluster, ns, name, timeout=120)
        eventually(
            lambda: (
                cluster.kubectl(
                    "get", "schedules.velero.io", schedule, "-n", "velero", check=False
                ).returncode
            ),
            until=lambda rc: rc != 0,
            timeout=60,
            what="the Velero Schedule pruned",
        )
        # Deletion completes: kopf removes its finalizer after the cleanup handler ran.
        doc["spec"]["backup"]["enabled"] = True
        apply_doc(cluster, doc)
        eventually(
            lambda: (
                cluster.kubectl(
                    "get", "schedules.velero.io", schedule, "-n", "velero", check=False
                ).returncode
            ),
            until=lambda rc: rc == 0,
            timeout=60,
            what="the Velero Schedule back",
        )
        cluster.kubectl("delete", "webstack", name, "-n", ns, "--timeout=90s")
        eventually(
            lambda: (
                cluster.kubectl(
                    "get", "schedules.velero.io", schedule, "-n", "velero", check=False
                ).returncode
            ),
            until=lambda rc: rc != 0,
            timeout=60,
            what="the Velero Schedule deleted by the finalizer",
        )
        log = proc.log_path.read_text(errors="replace")
        assert not re.search(r"cannot \w+ resource", log), proc.tail()  # no RBAC denial at all
    finally:
        proc.stop()
        forget_lease(cluster)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _prepare(rbac: Rbac, case: Case, ns: str) -> dict[str, Any]:
    doc = stack_doc(case.sample, ns)
    if case.scenario.startswith("drill"):
        doc["spec"]["backup"] = {"enabled": True, "dump": {"claimName": "dumps"}}
        doc["metadata"].setdefault("annotations", {})[DRILL_ANNOTATION] = "rbac"
    if case.scenario == "drill-leftover":
        leftover = scratch_namespace_name(ns, doc["metadata"]["name"])
        rbac.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": leftover}})
    if case.scenario in ("conflict", "adopt"):
        # A credentials Secret that already exists but is not labelled as ours (made by hand, or restored
        # without labels): the operator reads it to learn whose it is, and adopts it only when annotated.
        annotations = {"webstack.dev/adopt": "true"} if case.scenario == "adopt" else {}
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"{doc['metadata']['name']}-postgres",
                "namespace": ns,
                "annotations": annotations,
            },
            "stringData": {
                "username": "webstack",
                "password": "pre-existing-password",
                "database": "webstack",
            },
        }
        rbac.cluster.apply(secret)
    return doc


@pytest.mark.cluster
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_grant_is_needed(rbac: Rbac, case: Case) -> None:
    cluster, ns = rbac.cluster, rbac.namespace()
    proc: OperatorProcess | None = None
    apply_role(cluster, without(case), case, allowed=False)
    try:
        doc = _prepare(rbac, case, ns)
        apply_doc(cluster, doc)
        proc = UnwaitedOperator(rbac.kubeconfig, rbac.log_dir, env=LEASE_ENV).start()
        if case.scenario == "prune":
            redis = f"{doc['metadata']['name']}-redis"
            eventually(
                lambda: get_json(cluster, "deployment", redis, "-n", ns),
                timeout=CASE_TIMEOUT,
                what=f"{redis} created",
            )
            doc["spec"]["cache"] = {"mode": "Disabled"}
            apply_doc(cluster, doc)
        running = proc
        eventually(
            lambda: running.log_path.read_text(errors="replace"),
            until=lambda log: re.search(case.expect, log) is not None,
            timeout=CASE_TIMEOUT,
            what=f"{case.breaks!r} ({case.expect}) in the operator log",
        )
    finally:
        if proc is not None:
            proc.stop()
        forget_lease(cluster)
        apply_role(cluster, ROLE, case, allowed=True)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        if case.scenario.startswith("drill"):  # a scratch namespace the operator may have made
            scratch = scratch_namespace_name(ns, stack_doc(case.sample, ns)["metadata"]["name"])
            cluster.kubectl("delete", "namespace", scratch, "--wait=false", check=False)


@dataclass(frozen=True)
class LeaseCase:
    """Remove `verbs` from the Lease Role (the whole Role when empty): the operator's election fails with
    `expect` in its log, and it never leads."""

    verbs: tuple[str, ...]
    expect: str
    lease_exists: bool  # an expired Lease is there to take (update), or none (create)

    @property
    def id(self) -> str:
        return "-".join(self.verbs) or "whole-role"


LEASES = ("leases",)
LEASE_GROUP = "coordination.k8s.io"
LEASE_CASES = [
    LeaseCase((), forbidden("get", *LEASES, group=LEASE_GROUP), lease_exists=False),
    LeaseCase(("get",), forbidden("get", *LEASES, group=LEASE_GROUP), lease_exists=False),
    LeaseCase(("create",), forbidden("create", *LEASES, group=LEASE_GROUP), lease_exists=False),
    LeaseCase(("update",), forbidden("update", *LEASES, group=LEASE_GROUP), lease_exists=True),
]


def lease_role_without(case: LeaseCase) -> dict[str, Any] | None:
    """The Lease Role minus what the case removes; None for no Role at all."""
    if not case.verbs:
        return None
    role = copy.deepcopy(LEASE_ROLE)
    rules = []
    for rule in role["rules"]:
        rule["verbs"] = [v for v in rule["verbs"] if v not in case.verbs]
        if rule["verbs"]:
            rules.append(rule)
    role["rules"] = rules
    return dict(role)


def can_i_lease(cluster: KubeTarget, verb: str) -> bool:
    target = "leases.coordination.k8s.io" + ("" if verb == "create" else f"/{LEASE}")
    result = cluster.kubectl(
        "auth", "can-i", verb, target, f"--as={USER}", "-n", OPERATOR_NAMESPACE, check=False
    )
    return result.stdout.strip() == "yes"


def apply_lease_role(cluster: KubeTarget, role: dict[str, Any] | None, verb: str, *, allowed: bool) -> None:
    """Applies the Role (deletes it for None) and waits until the authorizer has it."""
    if role is None:
        cluster.kubectl("delete", "role", LEASE_ROLE["metadata"]["name"], "-n", OPERATOR_NAMESPACE)
    else:
        cluster.apply(role)
    eventually(
        lambda: can_i_lease(cluster, verb) == allowed,
        timeout=30,
        what=f"can-i {verb} leases == {allowed}",
    )


def expired_lease(cluster: KubeTarget) -> None:
    """A Lease nobody holds (a released one): taking it is an update."""
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE, "namespace": OPERATOR_NAMESPACE},
        "spec": {"holderIdentity": "", "leaseDurationSeconds": 15},
    }
    cluster.apply(lease)


def test_every_verb_of_the_lease_role_is_named_by_a_case() -> None:
    verbs = {v for rule in LEASE_ROLE["rules"] for v in rule["verbs"]}
    assert {v for c in LEASE_CASES for v in c.verbs} == verbs
    assert any(not c.verbs for c in LEASE_CASES)


@pytest.mark.cluster
@pytest.mark.parametrize("case", LEASE_CASES, ids=lambda c: c.id)
def test_the_lease_role_is_needed(rbac: Rbac, case: LeaseCase) -> None:
    """Without its Lease grants the operator stays a standby: it reconciles nothing, and says why. With the
    Role back, the same process leads and reconciles the stack (so the Role was all that was missing)."""
    cluster, ns = rbac.cluster, rbac.namespace()
    verb = case.verbs[0] if case.verbs else "get"
    proc: OperatorProcess | None = None
    forget_lease(cluster)
    if case.lease_exists:
        expired_lease(cluster)
    apply_lease_role(cluster, lease_role_without(case), verb, allowed=False)
    try:
        doc = stack_doc(MINIMAL, ns)
        name = doc["metadata"]["name"]
        apply_doc(cluster, doc)
        proc = OperatorProcess(rbac.kubeconfig, rbac.log_dir, env=LEASE_ENV).start()  # a standby is healthy
        running = proc
        # The election retries every 2 s: three denials mean it has tried, and failed, for 4 s at least.
        eventually(
            lambda: running.log_path.read_text(errors="replace"),
            until=lambda log: len(re.findall(case.expect, log)) >= 3,
            timeout=CASE_TIMEOUT,
            what=f"three lease denials ({case.expect}) in the operator log",
        )
        assert healthz_role(proc) == "standby"
        assert proc.metric("webstack_leader") == 0
        ws = get_json(cluster, "webstack", name, "-n", ns)
        assert "status" not in ws and not ws["metadata"].get("finalizers"), ws  # kopf never ran
        owned = cluster.kubectl(
            "get",
            "all,configmaps,secrets",
            "-n",
            ns,
            "-l",
            f"app.kubernetes.io/instance={name}",
            "-o",
            "name",
        ).stdout.split()
        assert owned == [], owned
        assert proc.metric("webstack_reconcile_total") == 0
        # The Role back: the very same process leads and reconciles.
        apply_lease_role(cluster, LEASE_ROLE, verb, allowed=True)
        eventually(lambda: healthz_role(running), until=lambda r: r == "leader", timeout=30, what="leader")
        wait_phase(cluster, ns, name, timeout=CASE_TIMEOUT)
    finally:
        if proc is not None:
            proc.stop()
        forget_lease(cluster)
        apply_lease_role(cluster, LEASE_ROLE, verb, allowed=True)
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
