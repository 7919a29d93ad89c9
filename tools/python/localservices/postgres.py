"""A throwaway Postgres: initdb once, then start/stop on the same data dir and port."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from kubelocal import leaks
from kubelocal.process import credentials
from localservices.server import LOOPBACK, LocalServer, chown_tree
from webstack_operator.builders.postgres import PASSWORD_ENCRYPTION

PG_BIN = Path(os.environ.get("WEBSTACK_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresServer(LocalServer):
    name = "postgres"
    run_as = "postgres"
    ready_timeout = 60.0
    # SIGINT is Postgres' "fast" shutdown: roll back open transactions and close connections now.
    stop_signal = signal.SIGINT
    grace = 30.0

    def __init__(
        self,
        *,
        user: str = "webstack",
        password: str | None = None,
        database: str = "webstack",
        port: int | None = None,
    ) -> None:
        super().__init__(port=port)
        self.user = user
        # Generated, like the operator's, so the run's log search (kubelocal.leaks) can look for it.
        self.password = password or secrets.token_urlsafe(24)
        leaks.note_secret(self.password)
        self.database = database
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "sockets"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{self.database}"

    def _as_owner(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        subprocess.run(
            argv,
            check=True,
            capture_output=True,
            env=dict(env) if env is not None else None,
            cwd=self.dir,
            **credentials(self.run_as),
        )

    def _initdb(self) -> None:
        password_file = self.dir / "pwfile"
        password_file.write_text(self.password + "\n")
        self.socket_dir.mkdir(exist_ok=True)
        chown_tree(self.dir, credentials(self.run_as))
        self._as_owner(
            [
                str(PG_BIN / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.user,
                "--pwfile",
                str(password_file),
                "--auth",
                PASSWORD_ENCRYPTION,
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
            ]
        )
        password_file.unlink()

    def ready(self) -> bool:
        result = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(self.port), "-d", "postgres"],
            check=False,
            capture_output=True,
        )
        return result.returncode == 0

    def start(self) -> Self:
        first_start = not self.data_dir.exists()
        if first_start:
            self._initdb()
        self._spawn(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-c",
                f"listen_addresses={LOOPBACK}",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                # A throwaway server: durability buys nothing and costs a lot of test time.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                # As the operator renders it (builders/postgres.py): new passwords hashed as SCRAM.
                "-c",
                f"password_encryption={PASSWORD_ENCRYPTION}",
            ]
        )
        if first_start and self.database != "postgres":
            self._as_owner(
                [
                    str(PG_BIN / "createdb"),
                    "-h",
                    LOOPBACK,
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    self.database,
                ],
                env={**os.environ, "PGPASSWORD": self.password},
            )
        return self

    def psql(self, sql: str) -> str:
        """Run SQL with psql; return its unaligned output. For synchronous code (fixtures, bench)."""
        result = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.dsn,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()
