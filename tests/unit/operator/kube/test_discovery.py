"""Unknown is not absent: a discovery blip keeps what was installed; only a settled absence removes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import kopf
import pytest
from tests.support.fake_apiserver import FakeApi, status

from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.kube.client import KubeClient
from webstack_operator.kube.discovery import AGGREGATED
from webstack_operator.objects.kinds import settle_capabilities


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeApi, KubeClient]]:
    async with FakeApi() as api:
        kube = KubeClient(kopf.ConnectionInfo(server=api.url, token="t"), field_manager="kube-tests")
        yield api, kube
        await kube.close()


async def test_a_group_failing_its_fetch_keeps_what_it_served(client: tuple[FakeApi, KubeClient]) -> None:
    api, kube = client
    await kube.discover()
    assert kube.resource("monitoring.coreos.com/v1", "ServiceMonitor") is not None
    api.answer("GET", "/apis/monitoring.coreos.com/v1", 503, status(503, "ServiceUnavailable", "blip"))
    found = await kube.discover()
    assert ("monitoring.coreos.com/v1", "ServiceMonitor") in found
    assert kube.resource("monitoring.coreos.com/v1", "ServiceMonitor") is not None


async def test_a_group_never_seen_and_failing_is_not_invented(client: tuple[FakeApi, KubeClient]) -> None:
    _, kube = client
    found = await kube.discover()  # metrics.k8s.io is listed but its document answers 503
    assert not any(api_version.startswith("metrics.k8s.io") for api_version, _ in found)


async def test_aggregated_discovery_takes_two_requests_where_served(
    client: tuple[FakeApi, KubeClient],
) -> None:
    """Not one request per group version every minute: /api and /apis, each with every resource in it."""
    api, kube = client
    legacy = await kube.discover()
    api.requests.clear()
    api.aggregated = True
    assert await kube.discover() == legacy
    assert [r.path for r in api.requests] == ["/api", "/apis"]
    assert all(AGGREGATED in r.headers["Accept"] for r in api.requests)
    assert all("/" not in r.plural for r in legacy.values())  # subresources are nested, and left out


async def test_a_stale_group_version_keeps_what_it_served_and_is_never_invented(
    client: tuple[FakeApi, KubeClient],
) -> None:
    api, kube = client
    api.aggregated = True
    found = await kube.discover()
    assert not any(
        api_version.startswith("metrics.k8s.io") for api_version, _ in found
    )  # Stale from the start
    assert ("monitoring.coreos.com/v1", "ServiceMonitor") in found
    api.stale.add("monitoring.coreos.com/v1")  # its backend stopped answering the apiserver
    found = await kube.discover()
    assert ("monitoring.coreos.com/v1", "ServiceMonitor") in found


async def test_a_server_without_aggregated_discovery_is_asked_per_group_version(
    client: tuple[FakeApi, KubeClient],
) -> None:
    api, kube = client
    await kube.discover()
    paths = [r.path for r in api.requests]
    assert paths[:3] == ["/api", "/api/v1", "/apis"]
    assert "/apis/apps/v1" in paths and "/apis/metrics.k8s.io/v1beta1" in paths


ALL = Capabilities()
NO_ARGO = Capabilities(argo_rollouts=False)


def test_the_first_discovery_is_taken_as_it_is() -> None:
    assert settle_capabilities(None, NO_ARGO, frozenset()) == (NO_ARGO, frozenset({"argo_rollouts"}))


def test_an_api_counts_as_gone_only_after_two_successful_looks_in_a_row() -> None:
    settled, absent = settle_capabilities(ALL, NO_ARGO, frozenset())
    assert settled.argo_rollouts  # once: could be a blip
    settled, absent = settle_capabilities(settled, NO_ARGO, absent)
    assert not settled.argo_rollouts  # twice in a row: gone
    settled, absent = settle_capabilities(settled, ALL, absent)
    assert settled.argo_rollouts  # back: at once
    assert absent == frozenset()


def test_an_absence_interrupted_by_a_presence_starts_over() -> None:
    settled, absent = settle_capabilities(ALL, NO_ARGO, frozenset())
    settled, absent = settle_capabilities(settled, ALL, absent)
    settled, absent = settle_capabilities(settled, NO_ARGO, absent)
    assert settled.argo_rollouts
