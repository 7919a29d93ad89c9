"""What the demo serves once its stack is up, whichever way it runs (real pods, or beside kwok pods)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class PostgresSwitch(Protocol):
    """Postgres as SIGUSR1 stops it and SIGUSR2 starts it again."""

    @property
    def pid(self) -> int | None: ...

    def running(self) -> bool: ...

    def stop(self) -> Any: ...

    def start(self) -> Any: ...


@dataclass
class Serving:
    ui: str  # the frontend: nginx serving the UI, proxying /api
    api: str  # a users API to write to (the e2e test's check that Postgres is back)
    apis: list[str]  # one per backend pod: the scrape targets
    operator_metrics: str  # the leading operator's /metrics
    prometheus: str
    postgres: PostgresSwitch
    pids: list[int]  # every process the demo runs but Postgres and the control plane
    postgres_titles: tuple[str, str]  # the progress lines of SIGUSR1 and SIGUSR2
