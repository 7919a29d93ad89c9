"""How a reconcile ends when it does not simply succeed: the contract between a reconcile and the queue.

A `Retry` counts a failure and backs off; a `Requeue` waits on the world without counting one.
"""


class Retry(Exception):
    """The work failed in a way a later attempt can fix; `delay` is the least wait before it (a server's
    `Retry-After`), the backoff decides when longer."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Requeue(Exception):
    """The work is done for now but waits on the world (a user's object holding a child's name, a garbage
    collection in progress): look again after `delay`, without counting a failure."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay
