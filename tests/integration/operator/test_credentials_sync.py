"""The Postgres pod's credentials-sync sidecar script, run verbatim from the rendered StatefulSet against a
real server set up like the official image (trust on the unix socket, scram-sha-256 over TCP).

The server is configured to log every statement and to store md5 verifiers, so the test also proves that the
script's session keeps the password out of the server log and stores a SCRAM verifier regardless.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.rendered_stacks import make_stack

from kubelocal.wait import GiveUp, eventually
from localservices import PostgresServer
from localservices.postgres import PG_BIN
from localservices.server import LOOPBACK
from webstack_operator.builders.postgres import SYNC_CONTAINER, postgres_objects

pytestmark = pytest.mark.services

ROLE = "webstack"
# Quotes, a backslash, a dollar and spaces: anything a careless interpolation would break on or expand. Each
# starts with a marker free of such characters, which is what the leak checks look for: a quoted or escaped
# copy of the password (in a logged statement, say) no longer contains the password verbatim.
MARKER_A, MARKER_B = "A-pass-Xk3q9", "B-pass-Zq7w2"
PASSWORD_A = f"{MARKER_A} 'quoted' \"double\" back\\slash $HOME ;--"
PASSWORD_B = f"{MARKER_B} also 'tricky' `id`"


class OfficialImageLikePostgres(PostgresServer):
    """pg_hba.conf as the official image leaves it: initdb's `local all all trust`, then scram-sha-256 for
    TCP (docker-entrypoint.sh's pg_setup_hba_conf)."""

    def _initdb(self) -> None:
        super()._initdb()
        (self.data_dir / "pg_hba.conf").write_text(
            f"local all all trust\nhost all all {LOOPBACK}/32 scram-sha-256\n", encoding="utf-8"
        )


def _psql(server: PostgresServer, host: str) -> list[str]:
    """psql to the role's `postgres` database, never prompting for a password."""
    options = ["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"]
    return [str(PG_BIN / "psql"), *options, "-h", host, "-p", str(server.port), "-U", ROLE, "-d", "postgres"]


def _admin_sql(server: PostgresServer, sql: str) -> str:
    """SQL over the unix socket (trust), whatever the role's password is at the moment."""
    result = subprocess.run(
        [*_psql(server, str(server.socket_dir)), "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def _tcp_login(server: PostgresServer, password: str) -> bool:
    """Whether the role can log in over TCP (scram-sha-256) with this password."""
    result = subprocess.run(
        [*_psql(server, LOOPBACK), "-c", "select 1"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
    )
    return result.returncode == 0 and result.stdout.strip() == "1"


def _command_lines() -> list[str]:
    """Every process's argv, as `ps` would show it."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # the process exited meanwhile
            continue
    return lines


def _write_atomically(path: Path, text: str) -> None:
    """Replace a file in one step, as the kubelet swaps a Secret volume's files."""
    scratch = path.with_name(f".{path.name}.new")
    scratch.write_text(text, encoding="utf-8")
    scratch.replace(path)


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with OfficialImageLikePostgres(user=ROLE) as server:
        _admin_sql(server, "ALTER SYSTEM SET log_statement = 'all'")
        _admin_sql(server, "ALTER SYSTEM SET password_encryption = 'md5'")
        _admin_sql(server, "SELECT pg_reload_conf()")
        yield server


def _sync_container() -> dict[str, Any]:
    [sts] = [o for o in postgres_objects(make_stack()) if o["kind"] == "StatefulSet"]
    [container] = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == SYNC_CONTAINER]
    return container


def test_sync_sets_the_password_from_the_file_and_never_shows_it(
    server: PostgresServer, tmp_path: Path
) -> None:
    container = _sync_container()
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "username").write_text("nosuchrole", encoding="utf-8")
    (credentials / "password").write_text(PASSWORD_A, encoding="utf-8")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert {"CREDENTIALS_DIR", "SYNC_INTERVAL_SECONDS", "PGHOST", "PGPORT"} <= env.keys()
    env |= {
        "CREDENTIALS_DIR": str(credentials),
        "SYNC_INTERVAL_SECONDS": "1",
        "PGHOST": str(server.socket_dir),
        "PGPORT": str(server.port),
        "PATH": f"{PG_BIN}:{os.environ['PATH']}",
    }
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"

    def argv_clean() -> bool:
        """Sampled at every poll; a password on any command line ends the test at once."""
        leaks = [line for line in _command_lines() if MARKER_A in line or MARKER_B in line]
        if leaks:
            raise GiveUp(f"a password on a command line: {leaks}")
        return True

    with stdout.open("wb") as out, stderr.open("wb") as err:
        script = subprocess.Popen(container["command"], env=env, stdout=out, stderr=err)
    try:
        # A role that does not exist: logged, retried, the loop carries on.
        eventually(
            lambda: argv_clean() and stderr.read_text(encoding="utf-8"),
            until=lambda text: "setting the password of role nosuchrole failed" in text,
            timeout=10,
            what="the failure for a missing role in the script's stderr",
        )
        assert script.poll() is None
        _write_atomically(credentials / "username", ROLE)
        eventually(
            lambda: argv_clean() and _tcp_login(server, PASSWORD_A),
            timeout=10,
            what="a TCP login with password A",
        )
        verifier = _admin_sql(server, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{ROLE}'")
        assert verifier.startswith("SCRAM-SHA-256$"), "an md5 cluster setting must not downgrade the verifier"

        _write_atomically(credentials / "password", PASSWORD_B)
        eventually(
            lambda: argv_clean() and _tcp_login(server, PASSWORD_B),
            timeout=10,
            what="a TCP login with password B",
        )
        assert not _tcp_login(server, PASSWORD_A)

        script.send_signal(signal.SIGTERM)
        assert script.wait(timeout=5) == 0
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()

    out_text, err_text = stdout.read_text(encoding="utf-8"), stderr.read_text(encoding="utf-8")
    assert out_text.count(f"password of role {ROLE} synced") == 2, out_text
    server_log = server.log_path.read_text(encoding="utf-8", errors="replace")
    assert "SET log_statement = 'none'" in server_log, "the server was meant to log every statement"
    for marker in (MARKER_A, MARKER_B):
        for where, text in (("stdout", out_text), ("stderr", err_text), ("the server log", server_log)):
            assert marker not in text, f"a password in {where}"
