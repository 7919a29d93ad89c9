"""What the lifespan opens and the handlers use, reached through `request.state` (never module globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import Request

from users_api.cache import Cache
from users_api.metrics import Metrics
from users_api.settings import Settings
from users_api.users import UsersRepository


@dataclass(frozen=True)
class AppState:
    settings: Settings
    metrics: Metrics
    users: UsersRepository
    cache: Cache


def app_state(request: Request) -> AppState:
    return cast(AppState, request.state.app_state)
