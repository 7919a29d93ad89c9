"""The fake API server (tests/support/fake_apiserver.py) and a client of it, for the HTTP unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import kopf
import pytest
from tests.support.fake_apiserver import FakeApi

from webstack_operator.kube.client import KubeClient
from webstack_operator.objects.stamps import FIELD_MANAGER


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    async with FakeApi() as fake:
        yield fake


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[KubeClient]:
    kube = KubeClient(kopf.ConnectionInfo(server=api.url, token="token-0"), field_manager=FIELD_MANAGER)
    yield kube
    await kube.close()
