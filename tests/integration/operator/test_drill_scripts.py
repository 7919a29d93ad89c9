"""The dump and restore-drill scripts, run verbatim from the rendered CronJob and Job against real servers.

A "live" Postgres plays the stack's database and a second one the drill's scratch database; a temporary
directory plays the dump volume. What the real-node test proves on pods (tests/integration/realnode/
test_restore_drill.py) is proven here for every verdict the script can give, in seconds: users written, a
dump taken, more users written, the drill restores exactly the first set; an empty, a corrupted or a
missing dump, and a schema that is not the app's, each fail with their own reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.rendered_stacks import make_stack

from localservices import PostgresServer
from localservices.postgres import PG_BIN
from localservices.server import LOOPBACK
from webstack_operator.builders.drill import DrillRun, drill_job
from webstack_operator.builders.dump import dump_cronjob

pytestmark = pytest.mark.services

BACKUP = {"enabled": True, "dump": {"claimName": "dumps", "keep": 2}, "drill": {"enabled": True}}
CTX = make_stack(backup=BACKUP)
RUN = DrillRun("test", "2026-12-06T00:00:00Z", "scratch-password-0123456789")


def _script(obj: dict[str, Any]) -> str:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    [container] = spec["template"]["spec"]["containers"]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    return str(container["command"][2])


def _literal_env(obj: dict[str, Any]) -> dict[str, str]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    [container] = spec["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.fixture(scope="module")
def live() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def scratch() -> Iterator[PostgresServer]:
    with PostgresServer(user="drill", database="drill") as server:
        yield server


@pytest.fixture
def volume(tmp_path: Path, live: PostgresServer, scratch: PostgresServer) -> Path:
    """An empty dump volume; a live database with the app's schema and no users; an empty scratch one."""
    live.psql(
        "DROP TABLE IF EXISTS users, schema_migrations; "
        "CREATE TABLE schema_migrations (version text PRIMARY KEY); "
        "INSERT INTO schema_migrations VALUES ('0001_create_users'); "
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, name text NOT NULL)"
    )
    scratch.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    directory = tmp_path / "backup"
    directory.mkdir()
    return directory


def _live_env(live: PostgresServer) -> dict[str, str]:
    return {
        "PATH": f"{PG_BIN}:{os.environ['PATH']}",
        "PGHOST": LOOPBACK,
        "PGPORT": str(live.port),
        "PGUSER": live.user,
        "PGPASSWORD": live.password,
        "PGDATABASE": live.database,
    }


def dump(live: PostgresServer, volume: Path) -> subprocess.CompletedProcess[str]:
    cronjob = dump_cronjob(CTX)
    env = {**_literal_env(cronjob), **_live_env(live), "BACKUP_DIR": str(volume)}
    return subprocess.run(["/bin/sh", "-c", _script(cronjob)], env=env, capture_output=True, text=True)


def drill(live: PostgresServer, scratch: PostgresServer, volume: Path) -> tuple[int, dict[str, Any], str]:
    job = drill_job(CTX, RUN)
    verdict = volume.parent / "verdict.json"
    env = {
        **_literal_env(job),
        **_live_env(live),
        "BACKUP_DIR": str(volume),
        "SCRATCH_HOST": LOOPBACK,
        "SCRATCH_PORT": str(scratch.port),
        "SCRATCH_PASSWORD": scratch.password,
        "SCRATCH_WAIT_SECONDS": "10",
        "VERDICT_FILE": str(verdict),
        "TMPDIR": str(volume.parent),
    }
    result = subprocess.run(["/bin/sh", "-c", _script(job)], env=env, capture_output=True, text=True)
    return result.returncode, json.loads(verdict.read_text()), result.stdout + result.stderr


def add_users(live: PostgresServer, *emails: str) -> None:
    for email in emails:
        live.psql(f"INSERT INTO users (email, name) VALUES ('{email}', 'User {email}')")


def test_the_drill_restores_exactly_the_data_of_the_newest_dump(
    live: PostgresServer, scratch: PostgresServer, volume: Path
) -> None:
    add_users(live, "a@example.com", "b@example.com", "c@example.com")
    first = live.psql("COPY (SELECT * FROM users) TO STDOUT").splitlines()
    assert dump(live, volume).returncode == 0
    add_users(live, "d@example.com", "e@example.com")  # after the dump: not in it

    code, verdict, output = drill(live, scratch, volume)

    assert code == 0, output
    assert (verdict["result"], verdict["reason"]) == ("Succeeded", "Restored"), verdict
    assert verdict["schemaVersion"] == "0001_create_users"
    [manifest_line] = (volume / "dumps.manifest").read_text().splitlines()
    taken, file, _ = manifest_line.split("\t")
    assert (verdict["dump"], verdict["dumpTime"]) == (file, taken)
    tables = {t["name"]: t for t in verdict["tables"]}
    assert tables["users"]["rows"] == 3
    restored = scratch.psql("COPY (SELECT * FROM users) TO STDOUT").splitlines()
    assert sorted(restored) == sorted(first)  # exactly the first set, none of the later users


def test_only_the_newest_dumps_are_kept_newest_first(live: PostgresServer, volume: Path) -> None:
    older = ["webstack-20261201T030000Z.pgdump", "webstack-20261130T030000Z.pgdump"]
    for name in older:
        (volume / name).write_bytes(b"an older dump")
    (volume / "dumps.manifest").write_text(
        f"2026-12-01T03:00:00Z\t{older[0]}\t13\n2026-11-30T03:00:00Z\t{older[1]}\t13\n"
    )

    assert dump(live, volume).returncode == 0

    lines = [line.split("\t") for line in (volume / "dumps.manifest").read_text().splitlines()]
    assert len(lines) == 2 and lines[1][1] == older[0]  # keep: 2, the new one first
    assert lines[0][1] != older[0] and int(lines[0][2]) == (volume / lines[0][1]).stat().st_size
    assert sorted(p.name for p in volume.glob("*.pgdump")) == sorted(line[1] for line in lines)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda path: path.write_bytes(b""), "EmptyDump"),
        (lambda path: path.write_bytes(b"PGDMP" + os.urandom(64)), "CorruptDump"),
        (lambda path: path.write_bytes(path.read_bytes()[:-40]), "RestoreFailed"),  # its data cut short
    ],
    ids=["empty", "garbage", "truncated"],
)
def test_a_damaged_dump_fails_the_drill_with_its_reason(
    live: PostgresServer, scratch: PostgresServer, volume: Path, damage: Any, reason: str
) -> None:
    add_users(live, "a@example.com")
    assert dump(live, volume).returncode == 0
    [path] = volume.glob("*.pgdump")
    damage(path)

    code, verdict, output = drill(live, scratch, volume)

    assert code == 1, output
    assert (verdict["result"], verdict["reason"]) == ("Failed", reason), verdict
    assert verdict["dump"] == path.name and verdict["message"]


def test_no_dump_yet_fails_the_drill(live: PostgresServer, scratch: PostgresServer, volume: Path) -> None:
    code, verdict, _ = drill(live, scratch, volume)
    assert (code, verdict["result"], verdict["reason"]) == (1, "Failed", "NoDump")


def test_a_dump_of_another_schema_version_fails_the_drill(
    live: PostgresServer, scratch: PostgresServer, volume: Path
) -> None:
    assert dump(live, volume).returncode == 0
    live.psql("INSERT INTO schema_migrations VALUES ('0002_add_column')")  # the app migrated since

    code, verdict, _ = drill(live, scratch, volume)

    assert (code, verdict["reason"]) == (1, "SchemaMismatch")
    assert "0001_create_users" in verdict["message"] and "0002_add_column" in verdict["message"]
