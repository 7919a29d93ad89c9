"""Settings, read once from the environment and validated before anything starts.

Kubernetes hands the pod either a `DATABASE_URL` or libpq-style `PG*` variables (from the database Secret), so
both are accepted. The Redis password comes apart from `REDIS_URL`, as `REDIS_PASSWORD` (from the cache's
Secret), so the URL can be plain configuration. A bad value fails fast with one line naming the variable;
secret values are never echoed, and the Settings' repr shows them as `**********`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

# Variables whose values must never appear in an error message or a log line.
SECRET_VARIABLES = frozenset({"DATABASE_URL", "REDIS_URL", "REDIS_PASSWORD", "PGPASSWORD"})


class SettingsError(ValueError):
    """A configuration problem, phrased for the operator of the service (variable, value, what is allowed)."""


class Settings(BaseModel):
    """Every knob of the service. Field names are the environment variable names, lower-cased."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: SecretStr
    redis_url: SecretStr | None = None
    # Redis `AUTH` (requirepass); a password in `REDIS_URL` itself takes precedence.
    redis_password: SecretStr | None = None
    cache_ttl_seconds: int = Field(30, ge=1, le=86_400)
    cache_enabled: bool = True
    # How long one Redis call may take before it counts as a failure, and the circuit breaker around it.
    cache_timeout_seconds: float = Field(0.25, gt=0, le=10)
    cache_breaker_failures: int = Field(3, ge=1, le=1000)
    cache_breaker_reset_seconds: float = Field(5.0, gt=0, le=3600)
    # This replica's in-memory copy of Redis entries, invalidated by Redis (docs/architecture.md). Used only
    # when the Redis cache is; bounded by entries and by estimated bytes, whichever is reached first.
    near_cache_enabled: bool = True
    near_cache_max_entries: int = Field(10_000, ge=1, le=10_000_000)
    near_cache_max_bytes: int = Field(32 * 1024 * 1024, ge=1024, le=16 * 1024 * 1024 * 1024)
    db_pool_min_size: int = Field(1, ge=0, le=200)
    db_pool_max_size: int = Field(10, ge=1, le=200)
    # Postgres may come up after us (same rollout): keep retrying the first connection this long.
    db_startup_timeout_seconds: float = Field(60.0, ge=0, le=3600)
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    host: str = Field("0.0.0.0", min_length=1)  # noqa: S104 - a container must listen on all interfaces
    port: int = Field(8000, ge=1, le=65_535)
    # Migrations run as their own step (`users-api migrate`, the operator's Job) before a new version
    # starts; `serve` applies them first only when asked (docs/ops/upgrade.md says why not).
    run_migrations: bool = False
    max_body_bytes: int = Field(65_536, ge=1, le=16 * 1024 * 1024)

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in {"postgresql", "postgres"}:
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError(
                f"DB_POOL_MIN_SIZE ({self.db_pool_min_size}) must not exceed "
                f"DB_POOL_MAX_SIZE ({self.db_pool_max_size})"
            )
        return self

    @property
    def cache_active(self) -> bool:
        """The cache is used only when it is enabled and has somewhere to live."""
        return self.cache_enabled and self.redis_url is not None

    def redis_password_value(self) -> str | None:
        """The password for the Redis clients (cache, near-cache invalidations), or None."""
        return self.redis_password.get_secret_value() if self.redis_password is not None else None

    @property
    def near_cache_active(self) -> bool:
        """The near cache needs Redis: its invalidations come from there."""
        return self.cache_active and self.near_cache_enabled


def database_url_from_environ(environ: Mapping[str, str]) -> str:
    """`DATABASE_URL`, or one assembled from the libpq variables the Kubernetes Secret provides."""
    url = environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    host = environ.get("PGHOST", "").strip()
    if not host:
        raise SettingsError("DATABASE_URL is not set, and neither is PGHOST: set one of them")
    user = environ.get("PGUSER", "").strip()
    if not user:
        raise SettingsError("PGUSER is not set (required when DATABASE_URL is unset)")
    port = environ.get("PGPORT", "5432").strip() or "5432"
    if not port.isdigit() or not 1 <= int(port) <= 65_535:
        raise SettingsError(f"invalid setting PGPORT={port!r}: must be a port number 1..65535")
    database = environ.get("PGDATABASE", "").strip() or user
    password = environ.get("PGPASSWORD", "")
    credentials = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    host_part = f"[{host}]" if ":" in host else host
    return f"postgresql://{credentials}@{host_part}:{port}/{quote(database, safe='')}"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Validate the environment into Settings, or raise SettingsError with one readable line."""
    raw: dict[str, object] = {"database_url": database_url_from_environ(environ)}
    for name in Settings.model_fields:
        if name == "database_url":
            continue
        value = environ.get(name.upper())
        if value is None:
            continue
        if name == "redis_url":
            # Unset or empty means "no cache": the service runs with X-Cache: BYPASS.
            raw[name] = value.strip() or None
        elif name == "redis_password":
            raw[name] = value or None  # a password is taken as written, spaces included
        else:
            raw[name] = value.strip()
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, environ)) from None


def describe_validation_error(exc: ValidationError, environ: Mapping[str, str]) -> str:
    """One line per problem, joined: `invalid setting PORT='x': Input should be a valid integer`."""
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        location = error["loc"]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not location:
            problems.append(f"invalid settings: {message}")
            continue
        variable = str(location[0]).upper()
        if variable in SECRET_VARIABLES or variable not in environ:
            problems.append(f"invalid setting {variable}: {message}")
        else:
            problems.append(f"invalid setting {variable}={environ[variable]!r}: {message}")
    return "; ".join(problems)
