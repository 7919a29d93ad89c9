"""`users-api serve | migrate | rotate-credentials`: the container's entrypoint and the operator's Jobs.

Both validate the settings first and stop with one line naming the bad variable, before any import-heavy
work or network I/O, so a misconfigured pod says what is wrong in its first log line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from users_api.logs import configure_logging
from users_api.settings import Settings, SettingsError, load_settings

log = logging.getLogger("users_api.cli")

# In-flight requests get this long after SIGTERM (the preStop drain comes first; the pod's grace covers both).
GRACEFUL_SHUTDOWN_SECONDS = 10
# The exit codes say whether running the same command again can help (the operator's Job retries only 3).
EXIT_MIGRATION_FAILED = 1  # a migration failed or cannot be applied: the same image fails again
EXIT_CONFIG_ERROR = 2
EXIT_DATABASE_UNAVAILABLE = 3  # the database did not answer within DB_STARTUP_TIMEOUT_SECONDS


def serve(settings: Settings) -> None:
    """Run one uvicorn worker (Kubernetes scales by replicas, not by processes in a pod)."""
    import uvicorn

    from users_api.app import create_app
    from users_api.http_protocol import CorkedHttpToolsProtocol

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=CorkedHttpToolsProtocol,  # httptools, one send per response
        workers=1,
        access_log=False,  # the middleware writes a JSON access log with the request id
        log_config=None,  # keep the JSON handler configure_logging installed
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def migrate(settings: Settings) -> int:
    """Apply pending migrations, waiting for the database up to DB_STARTUP_TIMEOUT_SECONDS."""
    import asyncpg

    from users_api.database import migrate as apply_pending
    from users_api.migrate import MigrationError
    from users_api.users import DATABASE_UNAVAILABLE

    try:
        applied = asyncio.run(apply_pending(settings))
    except DATABASE_UNAVAILABLE as exc:
        log.error("database unreachable", extra={"error": type(exc).__name__})
        return EXIT_DATABASE_UNAVAILABLE
    except MigrationError as exc:
        log.error("migration failed", extra={"reason": str(exc)})
        return EXIT_MIGRATION_FAILED
    except asyncpg.PostgresError as exc:  # the SQL of a migration failed; its transaction left nothing
        log.error("migration failed", extra={"reason": f"{type(exc).__name__}: {exc}"})
        return EXIT_MIGRATION_FAILED
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="users-api", description="The WebStack users API.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve HTTP (migrates first only with RUN_MIGRATIONS=true)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    rotate = commands.add_parser("rotate-credentials", help="a step of a credentials rotation")
    rotate.add_argument("step", choices=["prepare", "retire"])
    args = parser.parse_args(argv)
    if args.command == "rotate-credentials":  # its own variables, none of the server's settings
        from users_api.rotation import rotate_credentials

        return rotate_credentials(str(args.step), os.environ)
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        print(f"users-api: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging(settings.log_level)
    if args.command == "migrate":
        return migrate(settings)
    serve(settings)
    return 0
