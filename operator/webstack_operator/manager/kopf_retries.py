"""kopf's retries of its own API requests, logged as what they are: routine, not errors.

kopf's API client (`kopf._cogs.clients.api.request`) retries a 429, a 5xx or a dropped connection with
`settings.networking.error_backoffs`, never sooner than the server's Retry-After, and logs every attempt
that will be retried with `logger.error("Request attempt #N/M failed; will retry: ...")`: seven ERROR
lines in a 30 s throttling storm, for requests that then succeed. Its settings have no knob for that level.
Worse, when the logger is an object's (`kopf.objects`), kopf's `K8sPoster` handler turns each such line into
a Kubernetes Event: one more write per retry to a server that asked for fewer.

This filter makes those lines DEBUG: on the `kopf.objects` logger itself (before kopf's poster sees them,
so no Event), and on the output handler (for kopf's module loggers, which propagate there). They show only
with `--verbose`. The attempt that gives up ("failed; escalating") stays an ERROR: that one is a failure.

One retry is not routine: kopf retries a 403 too (an apiserver upgrading may refuse for a moment), with the
same backoffs, 54 s in all before it escalates. A 403 is nearly always RBAC that lacks a grant, so its first
attempt stays visible, as a WARNING carrying the apiserver's words ("cannot list resource ..."): the user
reads the mistake in a second, not a minute later; its later attempts are routine again.
"""

from __future__ import annotations

import logging

# The wording of kopf's retry line (kopf/_cogs/clients/api.py); a test checks kopf still says it.
RETRY_PREFIX = "Request attempt "
RETRY_MARK = "failed; will retry"
FIRST_ATTEMPT = "#1/"
FORBIDDEN = "APIForbiddenError("  # kopf's repr of a 403 (kopf/_cogs/clients/errors.py)
OBJECT_LOGGER = "kopf.objects"  # where kopf's Event poster hangs


class KopfRetryFilter(logging.Filter):
    """Demotes kopf's per-retry ERROR lines to DEBUG; drops them unless `verbose`."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_kopf_retry(record):
            return True
        if is_first_forbidden(record):
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return self.verbose


def is_kopf_retry(record: logging.LogRecord) -> bool:
    if not record.name.startswith("kopf") or not isinstance(record.msg, str):
        return False
    return record.msg.startswith(RETRY_PREFIX) and RETRY_MARK in record.msg


def is_first_forbidden(record: logging.LogRecord) -> bool:
    """The first attempt of a request the apiserver refused with 403 (a kopf retry line, checked first)."""
    message = str(record.msg)
    return message.startswith(RETRY_PREFIX + FIRST_ATTEMPT) and FORBIDDEN in message


def quiet_kopf_retries(handlers: list[logging.Handler], *, verbose: bool) -> KopfRetryFilter:
    """Installs the filter on kopf's object logger and on `handlers` (the root's output); returned so a
    caller may remove it."""
    retries = KopfRetryFilter(verbose)
    logging.getLogger(OBJECT_LOGGER).addFilter(retries)
    for handler in handlers:
        handler.addFilter(retries)
    return retries
