"""The last test of a session (tests/conftest.py sorts it last): no log the run wrote holds a password it
generated.

Passwords: the local Postgres and Redis servers' (generated when each starts), and every password the
operator generated into a WebStack Secret, read back from each cluster before a test's namespace or the
cluster goes (and here, from the clusters still running). Logs: every supervised process's (control plane,
operators, Postgres, Redis, users API, nginx; the apiserver's audit log too; kept by kubelocal.leaks when
each stopped, copied here for those still running), and every file in pytest's temporary directories (the
demo's log among them): this session's and, after a parallel run (scripts/test.sh), the workers'
(WEBSTACK_EARLIER_RUNS).

So that the search never passes for want of material, it first runs Redis and the users API with a
password, exercises the cache, and then requires that password and that log among what it searched.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.support.users_api import api_env

from kubelocal import leaks
from kubelocal.process import keep_live_logs
from localservices import PostgresServer, RedisServer, UsersApiServer


async def test_no_log_of_the_run_holds_a_generated_password(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = leaks.leak_dir()
    assert root is not None, f"{leaks.LEAK_DIR_VARIABLE} is set by tests/conftest.py"
    with RedisServer() as redis_server, UsersApiServer(env=api_env(postgres, redis_server)) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            seen = [(await client.get("/api/users?limit=1")).headers["x-cache"] for _ in range(2)]
        own_password, api_log = redis_server.password, api.log_path
    assert seen[-1] == "HIT", seen  # the password really was used

    leaks.harvest_live()
    keep_live_logs()
    secrets = leaks.noted_secrets()
    earlier = leaks.earlier_runs()
    assert all(run.is_dir() and any(run.iterdir()) for run in earlier), earlier  # the workers' files exist
    files = leaks.files_under(root / leaks.LOGS_DIR, *earlier, tmp_path_factory.getbasetemp())
    assert {own_password, postgres.password} <= secrets
    assert not api_log.exists()  # its temp dir is gone: only the kept copy can be searched
    kept = leaks.kept_copy(root, api_log, "users-api")
    assert kept in files and "ready" in kept.read_text(), kept

    found = leaks.find_leaks(files, secrets)
    searched = sum(f.stat().st_size for f in files if f.exists())
    assert not found, (
        f"{len(found)} password occurrence(s) in {len(files)} files ({searched} bytes) searched:\n"
        + "\n".join(map(str, found))
    )


def test_leak_directory_is_private() -> None:
    root = leaks.leak_dir()
    assert root is not None
    passwords = root / leaks.PASSWORDS_FILE
    assert passwords.exists() and (passwords.stat().st_mode & 0o077) == 0, oct(passwords.stat().st_mode)
    assert Path(root / leaks.LOGS_DIR).is_dir()
