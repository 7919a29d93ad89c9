"""`users-api rotate-credentials` against a real Postgres (a server per test: it changes roles): two
rotations there and back, objects owned by one role throughout, a retire that waits for the old role's
connections and refuses to go on while one remains, and passwords refused once retired."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import asyncpg
import pytest

from kubelocal import leaks
from localservices import PostgresServer
from localservices.server import LOOPBACK
from users_api.rotation import (
    EXIT_CONFIG_ERROR,
    EXIT_OLD_ROLE_IN_USE,
    RotationError,
    RotationTarget,
    prepare,
    retire,
    rotate_credentials,
    scram_verifier,
    standby_role,
)

pytestmark = pytest.mark.services


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as pg:
        yield pg


def _dsn(pg: PostgresServer, role: str, password: str) -> str:
    return f"postgresql://{role}:{password}@{LOOPBACK}:{pg.port}/{pg.database}"


def _password() -> str:
    password = secrets.token_urlsafe(24)
    leaks.note_secret(password)  # the run's log search looks for it too
    return password


async def _refused(dsn: str) -> bool:
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
    except asyncpg.InvalidPasswordError:
        return True
    await connection.close()
    return False


async def test_two_rotations_there_and_back_keep_one_owner_and_refuse_retired_passwords(
    server: PostgresServer,
) -> None:
    owner, first = server.user, server.password
    second, third = _password(), _password()
    incoming = standby_role(owner)
    assert incoming == f"{owner}_b" and standby_role(incoming) == owner

    said = await prepare(_dsn(server, owner, first), RotationTarget(incoming, second, 5))
    assert f"acts as {owner}" in said
    as_b = await asyncpg.connect(_dsn(server, incoming, second), timeout=5)
    try:
        await as_b.execute("CREATE TABLE made_by_b (id int)")
        table_owner = await as_b.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_b'")
    finally:
        await as_b.close()
    assert table_owner == owner

    # The old role still has a network connection: retire waits, then stops and keeps its password.
    held = await asyncpg.connect(_dsn(server, owner, first), timeout=5)
    try:
        with pytest.raises(RotationError) as refused:
            await retire(_dsn(server, incoming, second), RotationTarget(owner, first, 1))
        assert refused.value.code == EXIT_OLD_ROLE_IN_USE and "1 connection(s)" in str(refused.value)
    finally:
        await held.close()
    assert not await _refused(_dsn(server, owner, first)), "a failed retire keeps the old password"

    await retire(_dsn(server, incoming, second), RotationTarget(owner, first, 5))
    assert await _refused(_dsn(server, owner, first))

    # And back: the owner gets a new password, `_b` is retired.
    await prepare(_dsn(server, incoming, second), RotationTarget(owner, third, 5))
    await retire(_dsn(server, owner, third), RotationTarget(incoming, second, 5))
    assert await _refused(_dsn(server, incoming, second))
    as_owner = await asyncpg.connect(_dsn(server, owner, third), timeout=5)
    try:
        roles = await as_owner.fetchval("SELECT count(*) FROM pg_roles WHERE rolname LIKE $1", f"{owner}%")
    finally:
        await as_owner.close()
    assert roles == 2


async def test_retiring_the_role_logged_in_is_refused(server: PostgresServer) -> None:
    fresh = _password()
    await prepare(_dsn(server, server.user, server.password), RotationTarget(f"{server.user}_b", fresh, 5))
    with pytest.raises(RotationError) as refused:
        await retire(_dsn(server, f"{server.user}_b", fresh), RotationTarget(f"{server.user}_b", fresh, 1))
    assert refused.value.code == EXIT_CONFIG_ERROR


def test_the_command_says_why_in_one_line_and_exits_with_its_code(
    server: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"PGHOST": LOOPBACK, "PGPORT": str(server.port), "PGUSER": "nobody", "PGDATABASE": server.database}
    assert rotate_credentials("prepare", env) == EXIT_CONFIG_ERROR
    assert "ROTATION_USERNAME and ROTATION_PASSWORD must be set" in capsys.readouterr().err
    wrong = _password()
    env |= {"PGPASSWORD": wrong, "ROTATION_USERNAME": "webstack_b", "ROTATION_PASSWORD": _password()}
    code = rotate_credentials("prepare", env)
    err = capsys.readouterr().err
    assert code != 0 and "rotate-credentials prepare:" in err and wrong not in err


def test_the_verifier_is_postgres_scram_format() -> None:
    verifier = scram_verifier("pencil", b"0123456789abcdef", 4096)
    kind, rest = verifier.split("$", 1)
    assert kind == "SCRAM-SHA-256" and rest.startswith("4096:") and "pencil" not in verifier
