"""Real Postgres, Redis, nginx, users-API, operator and Prometheus processes on loopback, for the tests, the
demo and the benchmarks.

Each server is a context manager with start()/stop(): it picks a free port, keeps its files in its own temp
dir and stops only the process it started (kubelocal.process.Supervised, so it also dies with us).

Postgres and nginx refuse to run (or to run sensibly) as root, so when we are root they run as the `postgres`
and `nobody` users, which is also closer to production, where nothing runs as root.
"""

from kubelocal.process import free_port, wait_for
from localservices.nginx import NginxServer
from localservices.operator import OperatorProcess, operator_command, parse_metric
from localservices.postgres import PostgresServer
from localservices.prometheus import PrometheusClient, PrometheusServer
from localservices.redis import RedisServer
from localservices.server import LocalServer, console_script
from localservices.users_api import UsersApiServer, users_api_executable

__all__ = [
    "LocalServer",
    "NginxServer",
    "OperatorProcess",
    "PostgresServer",
    "PrometheusClient",
    "PrometheusServer",
    "RedisServer",
    "UsersApiServer",
    "console_script",
    "free_port",
    "operator_command",
    "parse_metric",
    "users_api_executable",
    "wait_for",
]
