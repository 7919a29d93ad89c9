"""A namespaced operator (`run --namespace A --namespace B`) lists and watches only where its Roles are.

Each child kind is watched per served namespace, the Velero Schedule only in Velero's namespace; a list is
the whole truth for its namespace only; a watch the apiserver refuses (403) neither holds the reconciles
back nor makes the replica unhealthy; kopf is told not to follow Namespaces and CRDs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from tests.support.fake_apiserver import FakeApi, status
from tests.support.polling import eventually

from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.config.run_options import OperatorConfig, load_settings
from webstack_operator.controller.handlers import configure_kopf
from webstack_operator.controller.wiring import (
    Controller,
    elsewhere_namespace,
    watch_namespaces,
    watch_targets,
)
from webstack_operator.kube.client import KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import CHILD_KINDS, child_kind
from webstack_operator.objects.stamps import FIELD_MANAGER

SAMPLES = Path(__file__).resolve().parents[4] / "deploy" / "samples"
SERVED = ("team-a", "team-b")
NAMESPACED = OperatorConfig(namespaces=SERVED, resync_seconds=0.01)


def configmap(namespace: str, name: str) -> JSON:
    meta = {
        "name": name,
        "namespace": namespace,
        "labels": {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.INSTANCE: "shop"},
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def in_namespace(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


@pytest.fixture
async def controller(api: FakeApi) -> AsyncIterator[Controller]:
    client = KubeClient(kopf.ConnectionInfo(server=api.url, token="t"), field_manager=FIELD_MANAGER)
    ctl = Controller(client, NAMESPACED)
    yield ctl
    await ctl.watches.close()
    await client.close()


# ---------------------------------------------------------------------- where each kind is watched
def test_a_cluster_wide_operator_watches_every_kind_in_every_namespace() -> None:
    assert {watch_namespaces(row, OperatorConfig()) for row in CHILD_KINDS} == {(None,)}


def test_a_namespaced_operator_watches_each_kind_in_each_namespace_and_the_schedule_in_veleros() -> None:
    config = OperatorConfig(namespaces=SERVED, settings=OperatorSettings(velero_namespace="backups"))
    where = {row.kind: watch_namespaces(row, config) for row in CHILD_KINDS}
    assert where.pop("Schedule") == ("backups",)
    assert where.pop("Backup") == ("backups",)  # Velero makes them beside the Schedule
    assert set(where.values()) == {SERVED}


def test_every_kind_living_elsewhere_is_watched_where_its_builder_puts_it() -> None:
    settings = replace(load_settings({}), velero_namespace="backups")
    doc = yaml.safe_load((SAMPLES / "webstack-full.yaml").read_text())
    ctx = StackContext(
        spec=parse_spec(doc),
        name="shop",
        namespace="team-a",
        settings=settings,
        generated_password="x",
        generated_cache_password="c" * 32,
    )
    elsewhere = {}
    for obj in desired_objects(ctx):
        row = child_kind(obj["apiVersion"], obj["kind"])
        if row is not None and row.elsewhere:
            elsewhere[row.kind] = (obj["metadata"]["namespace"], elsewhere_namespace(row, settings))
    # The sample renders each; Velero's Backups appear where it keeps the Schedule they are made from.
    assert set(elsewhere) == {row.kind for row in CHILD_KINDS if row.elsewhere and row.rendered}
    assert all(rendered == watched for rendered, watched in elsewhere.values()), elsewhere
    backup = child_kind("velero.io/v1", "Backup")
    assert backup is not None and elsewhere_namespace(backup, settings) == elsewhere["Schedule"][0]


async def test_watch_targets_are_the_served_kinds_times_the_namespaces(api: FakeApi) -> None:
    client = KubeClient(kopf.ConnectionInfo(server=api.url, token="t"), field_manager=FIELD_MANAGER)
    try:
        await client.discover()
        targets = {(r.kind, ns) for r, ns in watch_targets(client, NAMESPACED)}
        cluster_wide = {(r.kind, ns) for r, ns in watch_targets(client, OperatorConfig())}
    finally:
        await client.close()
    # What the fake API serves of the child table, and of what the workloads make (pods: by our label too).
    kinds = {"ConfigMap", "Secret", "Deployment", "ServiceMonitor", "Pod"}
    assert targets == {(kind, ns) for kind in kinds for ns in SERVED}
    assert cluster_wide == {(kind, None) for kind in kinds}


# ---------------------------------------------------------------------- lists and watches, per namespace
async def test_children_are_listed_and_watched_only_in_the_served_namespaces(
    api: FakeApi, controller: Controller
) -> None:
    for ns in (*SERVED, "team-c"):
        api.create(in_namespace(ns), configmap(ns, "shop-ui"))
    await controller.discover()
    await controller.watches.wait_synced(limit=5)
    selected = {r.path for r in api.requests if "labelSelector" in r.query}  # every list and watch
    assert {in_namespace(ns) for ns in SERVED} <= selected
    assert {p for p in selected if not re.search(r"/namespaces/team-[ab]/", p)} == set()
    cached = {ns: controller.cache.get(("v1", "ConfigMap", ns, "shop-ui")) for ns in (*SERVED, "team-c")}
    assert cached["team-a"] is not None and cached["team-b"] is not None and cached["team-c"] is None


async def test_a_list_of_one_namespace_leaves_the_others_children_alone(
    api: FakeApi, controller: Controller
) -> None:
    for ns in SERVED:
        api.create(in_namespace(ns), configmap(ns, "shop-ui"))
    await controller.discover()
    await controller.watches.wait_synced(limit=5)
    configmaps = controller.client.resource("v1", "ConfigMap")
    assert configmaps is not None
    controller._on_child_resync(configmaps, "team-a", [])  # team-a relisted after its watch was down: empty
    assert controller.cache.get(("v1", "ConfigMap", "team-a", "shop-ui")) is None
    assert controller.cache.get(("v1", "ConfigMap", "team-b", "shop-ui")) is not None


async def test_a_refused_watch_holds_nothing_back_and_is_no_health_problem(
    api: FakeApi, controller: Controller
) -> None:
    denied = status(403, "Forbidden", 'configmaps is forbidden: cannot list resource "configmaps"')
    api.answer("GET", in_namespace("team-b"), 403, denied, times=1_000_000)
    api.create(in_namespace("team-a"), configmap("team-a", "shop-ui"))
    await controller.discover()
    await controller.watches.wait_synced(limit=5)  # the refused watch counts: waiting would not fill it
    assert controller.cache.get(("v1", "ConfigMap", "team-a", "shop-ui")) is not None
    assert [f.split(":")[0] for f in controller.watches.forbidden()] == ["ConfigMap in team-b"]

    async def problems() -> list[str]:
        return controller.problems()

    # resync_seconds is 0.01: a failing watch would be stale long before this looks twice
    assert await eventually(problems, until=lambda p: p == [], within=1, what="no health problem") == []
    api.unscript()  # the Role granted: the watch lists, and is no longer refused

    async def forbidden() -> list[str]:
        return controller.watches.forbidden()

    await eventually(forbidden, until=lambda f: f == [], within=5, what="the watch allowed again")


async def test_the_finalizer_looks_for_objects_elsewhere_in_veleros_namespace_only(
    controller: Controller,
) -> None:
    assert controller._elsewhere_namespace() == "velero"
    cluster_wide = Controller(controller.client, OperatorConfig())
    assert cluster_wide._elsewhere_namespace() == "velero"  # a Schedule anywhere else is no stack's


# ---------------------------------------------------------------------- kopf
def test_kopf_follows_namespaces_and_crds_only_when_cluster_wide() -> None:
    """Both need cluster-wide list and watch; served namespaces are exact names, so kopf needs neither."""
    settings: Any = kopf.OperatorSettings()
    configure_kopf(settings, namespaced=True)
    assert settings.scanning.disabled
    settings = kopf.OperatorSettings()
    configure_kopf(settings)
    assert not settings.scanning.disabled
