"""Every setting of `webstack-operator run`, read once at start from the flags and the environment.

The rest of the operator receives one frozen `OperatorConfig` and never reads the environment itself, so
what a process does is decided in one visible place (and a test can build any configuration directly).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from webstack_operator.config.operator_settings import OperatorSettings


class ConfigError(ValueError):
    """A setting that cannot be used, named with its variable or flag."""


# The level-based safety net's period; the operator's not-reconciling alert is a multiple of it.
DEFAULT_RESYNC_SECONDS = 300.0

# A namespace's name is a DNS-1123 label.
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class OperatorConfig:
    """How the operator process runs; `settings` is what shapes the rendered objects."""

    settings: OperatorSettings = field(default_factory=OperatorSettings)
    namespaces: tuple[str, ...] = ()  # empty: every namespace (a ClusterRole); else these only (Roles)
    liveness_port: int = 8080  # 0: none
    metrics_port: int = 8081  # 0: none
    metrics_addr: str = "0.0.0.0"  # noqa: S104 - scraped from outside the pod
    verbose: bool = False
    resync_seconds: float = (
        DEFAULT_RESYNC_SECONDS  # level-based safety net: every stack is reconciled this often
    )
    discovery_seconds: float = 60.0  # optional APIs are looked for again this often
    debounce_seconds: float = 0.2  # a burst of child events for one stack becomes one reconcile
    concurrency: int = 8  # reconciles running at once, across all stacks
    # The API client's requests in flight at once (watches aside): a small apiserver may want fewer.
    request_slots: int = 32
    token_file: str | None = None  # a bearer token re-read when it rotates (None: in-cluster default)
    instance: str = "local"  # reported in Events (the pod name in a cluster)
    leader_election: bool = True  # replicas elect one holder of a Lease; only it reconciles
    lease_namespace: str = "default"  # the operator's own namespace in a cluster (POD_NAMESPACE)
    lease_name: str = "webstack-operator"
    identity: str = "local"  # unique per process: the Lease's holderIdentity


def _number(environ: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum:g}")
    return value


def _flag(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def load_config(
    environ: Mapping[str, str],
    *,
    namespaces: Sequence[str] = (),
    liveness_port: int = 8080,
    metrics_port: int | None = None,
    verbose: bool = False,
    settings: OperatorSettings | None = None,
) -> OperatorConfig:
    """The configuration from `run`'s flags (which win) and the `WEBSTACK_*` environment variables."""
    defaults = OperatorConfig()
    instance = environ.get("HOSTNAME") or defaults.instance
    port = (
        metrics_port
        if metrics_port is not None
        else int(_number(environ, "WEBSTACK_METRICS_PORT", defaults.metrics_port))
    )
    return OperatorConfig(
        settings=settings or load_settings(environ),
        namespaces=served_namespaces(namespaces),
        liveness_port=liveness_port,
        metrics_port=port,
        metrics_addr=environ.get("WEBSTACK_METRICS_ADDR") or defaults.metrics_addr,
        verbose=verbose,
        resync_seconds=_number(environ, "WEBSTACK_RESYNC_SECONDS", defaults.resync_seconds, minimum=1),
        discovery_seconds=_number(
            environ, "WEBSTACK_DISCOVERY_SECONDS", defaults.discovery_seconds, minimum=1
        ),
        concurrency=int(_number(environ, "WEBSTACK_CONCURRENCY", defaults.concurrency, minimum=1)),
        request_slots=int(_number(environ, "WEBSTACK_REQUEST_SLOTS", defaults.request_slots, minimum=1)),
        token_file=environ.get("WEBSTACK_TOKEN_FILE") or None,
        instance=instance,
        leader_election=_flag(environ, "WEBSTACK_LEADER_ELECTION", default=True),
        lease_namespace=environ.get("WEBSTACK_LEASE_NAMESPACE")
        or environ.get("POD_NAMESPACE")
        or defaults.lease_namespace,
        lease_name=environ.get("WEBSTACK_LEASE_NAME") or defaults.lease_name,
        identity=f"{instance}_{secrets.token_hex(4)}",
    )


def served_namespaces(names: Sequence[str]) -> tuple[str, ...]:
    """The `--namespace` values, each once, in order. Exact names only: the operator lists and watches in
    each (a pattern like kopf's `team-*` would need cluster-wide rights to list namespaces)."""
    served: list[str] = []
    for name in names:
        if not NAMESPACE_NAME.fullmatch(name):
            raise ConfigError(
                f"--namespace={name!r}: expected a namespace name (lowercase letters, digits and '-', "
                "at most 63 characters); patterns are not supported"
            )
        if name not in served:
            served.append(name)
    return tuple(served)


def load_settings(environ: Mapping[str, str]) -> OperatorSettings:
    """What shapes the objects: default images and namespaces, and the UI files read once.

    The one place `run`, `render` and `plan` get their settings from. The UI comes from the contract's
    package data; WEBSTACK_FRONTEND_DIR, when set, names a folder holding other files (the same four
    names), passed down to the contract, which reads no environment itself."""
    from webstack_contract.frontend import load_frontend_assets, nginx_conf_template

    defaults = OperatorSettings()
    frontend_dir = Path(environ["WEBSTACK_FRONTEND_DIR"]) if environ.get("WEBSTACK_FRONTEND_DIR") else None
    domain = environ.get("WEBSTACK_CLUSTER_DOMAIN", defaults.cluster_domain)
    return OperatorSettings(
        postgres_repository=environ.get("WEBSTACK_POSTGRES_REPOSITORY", defaults.postgres_repository),
        redis_image=environ.get("WEBSTACK_REDIS_IMAGE", defaults.redis_image),
        velero_namespace=environ.get("WEBSTACK_VELERO_NAMESPACE", defaults.velero_namespace),
        monitoring_namespace=environ.get("WEBSTACK_MONITORING_NAMESPACE", defaults.monitoring_namespace),
        cluster_domain=domain,
        cluster_dns=environ.get("WEBSTACK_CLUSTER_DNS", f"kube-dns.kube-system.svc.{domain}"),
        frontend_nginx_template=nginx_conf_template(frontend_dir),
        frontend_assets=MappingProxyType(dict(load_frontend_assets(frontend_dir))),
    )
