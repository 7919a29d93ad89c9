"""`users-api rotate-credentials prepare|retire`: the database's side of a credentials rotation.

The operator rotates the generated database credentials without a hard cut (docs/ops/backup-dr.md): two
login roles take turns, `<owner>` and `<owner>_b`, and both act as the owning role, so whatever either
creates belongs to one role and a rotation never changes who owns the data. The operator's Job runs this
command twice, each time logged in with the credentials the backend uses now (PG*):

- `prepare`: gives the incoming role (ROTATION_USERNAME) its new password (ROTATION_PASSWORD), creating it
  on a stack's first rotation, then logs in with it over the network as the backend will. Nothing the
  running backend uses changes.
- `retire`: once the backend runs on the new credentials, waits until no network connection of the
  outgoing role (ROTATION_USERNAME) is left (`pg_stat_activity`), removes its password, and checks that
  its old password (ROTATION_PASSWORD) is refused.

The password never reaches the server: the SCRAM-SHA-256 verifier is computed here and sent instead, and
the session turns statement logging off first. Nothing here logs a password or a verifier. The exit code
says what failed (the operator reads it from the Job), and the one line on stderr says why.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from users_api.settings import SettingsError, database_url_from_environ

# Exit codes, read by the operator (webstack_operator/builders/credentials_rotation.py keeps the same).
EXIT_SQL_FAILED = 1  # a statement failed: the database said why
EXIT_CONFIG_ERROR = 2
EXIT_DATABASE_UNAVAILABLE = 3
EXIT_NEW_LOGIN_FAILED = 4  # prepare: the new password does not log in
EXIT_OLD_ROLE_IN_USE = 5  # retire: connections of the outgoing role remained
EXIT_OLD_LOGIN_ACCEPTED = 6  # retire: the old password still logs in

SCRAM_ITERATIONS = 4096  # Postgres's default (scram_iterations)
CONNECT_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 1.0
_QUIET_SESSION = (
    "SET log_statement = 'none'",
    "SET log_min_duration_statement = -1",
    "SET log_min_error_statement = 'panic'",
)


class RotationError(Exception):
    """A step that cannot complete; `code` is the exit code that says which."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RotationTarget:
    """The role a step acts on and the password it is about (new for prepare, old for retire)."""

    role: str
    password: str
    wait_seconds: float


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802/7677, Postgres's format). The
    generated passwords are ASCII, which SASLprep leaves as they are."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def standby_role(active: str) -> str:
    """The other role of the pair: `<owner>_b` for the owner, the owner for `<owner>_b`."""
    return active.removesuffix("_b") if active.endswith("_b") else f"{active}_b"


async def _quiet(connection: asyncpg.Connection) -> None:
    for statement in _QUIET_SESSION:
        await connection.execute(statement)


async def _owner(connection: asyncpg.Connection) -> str:
    owner = await connection.fetchval(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
    )
    return str(owner)


async def _run_formatted(connection: asyncpg.Connection, template: str, *args: str) -> None:
    """A utility statement takes no parameters: Postgres's own `format` quotes them (%I, %L)."""
    statement = await connection.fetchval(f"SELECT format('{template}', {_params(len(args))})", *args)
    await connection.execute(str(statement))


def _params(count: int) -> str:
    return ", ".join(f"${i}::text" for i in range(1, count + 1))


async def _can_log_in(dsn: str, role: str, password: str) -> tuple[bool, str]:
    """Logs in over the network as the backend does; (True, current_user) or (False, why)."""
    try:
        # The same server and database as `dsn`, as someone else (keywords win over the DSN's).
        connection = await asyncpg.connect(dsn, user=role, password=password, timeout=CONNECT_TIMEOUT_SECONDS)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        return False, type(exc).__name__
    try:
        return True, str(await connection.fetchval("SELECT current_user"))
    finally:
        await connection.close()


async def prepare(dsn: str, target: RotationTarget) -> str:
    """Sets the incoming role's password (creating the role, a member of the owner that acts as it, on a
    first rotation) and proves it logs in and acts as the owner. Returns what to print."""
    connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await _quiet(connection)
        owner = await _owner(connection)
        if target.role != owner:
            if standby_role(owner) != target.role:
                raise RotationError(EXIT_CONFIG_ERROR, f"role {target.role} is not {owner}'s rotation pair")
            exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", target.role)
            if not exists:
                await _run_formatted(connection, "CREATE ROLE %I LOGIN IN ROLE %I", target.role, owner)
            await _run_formatted(connection, "GRANT %I TO %I", owner, target.role)
            await _run_formatted(connection, "ALTER ROLE %I SET role = %L", target.role, owner)
        verifier = scram_verifier(target.password, os.urandom(16))
        await _run_formatted(connection, "ALTER ROLE %I WITH LOGIN PASSWORD %L", target.role, verifier)
    finally:
        await connection.close()
    ok, acting = await _can_log_in(dsn, target.role, target.password)
    if not ok:
        raise RotationError(EXIT_NEW_LOGIN_FAILED, f"role {target.role} cannot log in with its new password")
    if acting != owner:
        raise RotationError(EXIT_NEW_LOGIN_FAILED, f"role {target.role} acts as {acting}, not as {owner}")
    return f"role {target.role} logs in with its new password and acts as {owner}"


async def _remaining(connection: asyncpg.Connection, role: str) -> tuple[int, str]:
    """Network connections of `role` (in-pod socket connections, such as the probes', need no password)."""
    row = await connection.fetchrow(
        "SELECT count(*) AS n, coalesce(string_agg(DISTINCT host(client_addr), ', '), '') AS hosts "
        "FROM pg_stat_activity WHERE usename = $1 AND client_addr IS NOT NULL",
        role,
    )
    assert row is not None
    return int(row["n"]), str(row["hosts"])


async def retire(dsn: str, target: RotationTarget) -> str:
    """Removes the outgoing role's password once nothing connects with it, then proves it is refused."""
    connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await _quiet(connection)
        if await connection.fetchval("SELECT session_user") == target.role:
            raise RotationError(EXIT_CONFIG_ERROR, f"role {target.role} is the one logged in: not retired")
        deadline = time.monotonic() + target.wait_seconds
        count, hosts = await _remaining(connection, target.role)
        while count and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            count, hosts = await _remaining(connection, target.role)
        if count:
            raise RotationError(
                EXIT_OLD_ROLE_IN_USE,
                f"{count} connection(s) of role {target.role} remain after {target.wait_seconds:.0f}s "
                f"(from {hosts}): its password is kept",
            )
        await _run_formatted(connection, "ALTER ROLE %I WITH PASSWORD NULL", target.role)
    finally:
        await connection.close()
    accepted, _ = await _can_log_in(dsn, target.role, target.password)
    if accepted:
        why = f"role {target.role} still logs in with its old password"
        raise RotationError(EXIT_OLD_LOGIN_ACCEPTED, why)
    return f"role {target.role}: password removed, its old password is refused"


def target_from_environ(environ: Mapping[str, str]) -> RotationTarget:
    role, password = environ.get("ROTATION_USERNAME", ""), environ.get("ROTATION_PASSWORD", "")
    if not role or not password:
        raise RotationError(EXIT_CONFIG_ERROR, "ROTATION_USERNAME and ROTATION_PASSWORD must be set")
    wait = environ.get("ROTATION_WAIT_SECONDS", "120")
    if not wait.isdigit():
        raise RotationError(EXIT_CONFIG_ERROR, f"invalid setting ROTATION_WAIT_SECONDS={wait!r}")
    return RotationTarget(role, password, float(wait))


def rotate_credentials(step: str, environ: Mapping[str, str]) -> int:
    """Runs one step; prints one line (stdout on success, stderr on failure) and returns the exit code."""
    from users_api.users import DATABASE_UNAVAILABLE

    try:
        target = target_from_environ(environ)
        dsn = database_url_from_environ(environ)
        action = prepare if step == "prepare" else retire
        print(f"rotate-credentials {step}: {asyncio.run(action(dsn, target))}")
        return 0
    except RotationError as exc:
        print(f"rotate-credentials {step}: {exc}", file=sys.stderr)
        return exc.code
    except SettingsError as exc:
        print(f"rotate-credentials {step}: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except DATABASE_UNAVAILABLE as exc:
        print(f"rotate-credentials {step}: database unreachable ({type(exc).__name__})", file=sys.stderr)
        return EXIT_DATABASE_UNAVAILABLE
    except asyncpg.PostgresError as exc:
        print(f"rotate-credentials {step}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_SQL_FAILED
