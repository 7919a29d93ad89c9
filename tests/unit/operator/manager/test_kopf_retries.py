"""kopf's per-retry ERROR lines become DEBUG, never a Kubernetes Event; its final failure stays an ERROR."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator

import kopf._cogs.clients.api as kopf_api
import pytest

from webstack_operator.manager.kopf_retries import (
    RETRY_MARK,
    RETRY_PREFIX,
    KopfRetryFilter,
    quiet_kopf_retries,
)

# What kopf logs, word for word (kopf/_cogs/clients/api.py).
RETRY = "Request attempt #2/9 failed; will retry: PATCH https://k/apis/webstack.dev/v1alpha1/x -> 429"
ESCALATE = "Request attempt #9/9 failed; escalating: PATCH https://k/apis/webstack.dev/v1alpha1/x -> 429"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def output() -> Iterator[tuple[Collect, logging.Handler]]:
    """An output handler on the root, as configure_logging leaves it, and one on kopf.objects standing in
    for kopf's Event poster (it sees what that logger passes)."""
    out, poster = Collect(), Collect()
    root, objects = logging.getLogger(), logging.getLogger("kopf.objects")
    root.addHandler(out)
    objects.addHandler(poster)
    before = root.level
    root.setLevel(logging.INFO)
    yield out, poster
    root.setLevel(before)
    root.removeHandler(out)
    objects.removeHandler(poster)


def test_kopf_still_logs_its_retries_in_the_words_the_filter_knows() -> None:
    source = inspect.getsource(kopf_api.request)
    assert f'logger.error(f"{RETRY_PREFIX}{{idx}} {RETRY_MARK}: ' in source


@pytest.mark.parametrize("logger", ["kopf.objects", "kopf._cogs.clients.watching"])
def test_a_kopf_retry_is_not_an_error_line_nor_an_event(output: tuple[Collect, Collect], logger: str) -> None:
    out, poster = output
    retries = quiet_kopf_retries([out], verbose=False)
    try:
        logging.getLogger(logger).error(RETRY)
        logging.getLogger(logger).error(ESCALATE)
    finally:
        logging.getLogger("kopf.objects").removeFilter(retries)
    assert [r.getMessage() for r in out.records] == [ESCALATE]
    assert all(r.levelno == logging.ERROR for r in out.records)
    assert RETRY not in [r.getMessage() for r in poster.records]  # kopf would have posted it as an Event


def test_verbose_keeps_a_kopf_retry_as_debug() -> None:
    record = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, RETRY, None, None)
    assert KopfRetryFilter(verbose=True).filter(record)
    assert (record.levelno, record.levelname) == (logging.DEBUG, "DEBUG")


def test_other_lines_pass_untouched() -> None:
    for name, message in [("kopf.objects", "Handler 'reconcile' failed"), ("webstack.x", RETRY)]:
        record = logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None)
        assert KopfRetryFilter(verbose=False).filter(record)
        assert record.levelno == logging.ERROR


FORBIDDEN_FIRST = (
    "Request attempt #1/9 failed; will retry: GET https://k/apis/webstack.dev/v1alpha1/webstacks -> "
    'APIForbiddenError(\'webstacks.webstack.dev is forbidden: User "system:serviceaccount:w:op" cannot list '
    'resource "webstacks" in API group "webstack.dev" at the cluster scope\', status=403)'
)
FORBIDDEN_LATER = FORBIDDEN_FIRST.replace("#1/9", "#2/9")


@pytest.mark.parametrize("logger", ["kopf.objects", "kopf._cogs.clients.watching"])
def test_the_first_refusal_of_rbac_is_a_warning_at_once_its_retries_are_not(
    output: tuple[Collect, Collect], logger: str
) -> None:
    """kopf retries a 403 for 54 s before it escalates; the first attempt names the missing grant now."""
    out, _ = output
    retries = quiet_kopf_retries([out], verbose=False)
    try:
        for message in (FORBIDDEN_FIRST, FORBIDDEN_LATER, RETRY):
            logging.getLogger(logger).error(message)
    finally:
        logging.getLogger("kopf.objects").removeFilter(retries)
    assert [(r.getMessage(), r.levelno) for r in out.records] == [(FORBIDDEN_FIRST, logging.WARNING)]
    assert 'cannot list resource "webstacks"' in out.records[0].getMessage()
