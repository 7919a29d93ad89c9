"""Postgres as the harness runs it (as the operator renders it): passwords stored as SCRAM-SHA-256
verifiers and checked with scram-sha-256 over TCP; never MD5."""

from __future__ import annotations

import pytest

from localservices import PostgresServer

pytestmark = pytest.mark.services


def test_passwords_are_stored_and_checked_with_scram_sha_256(postgres: PostgresServer) -> None:
    assert postgres.psql("SHOW password_encryption") == "scram-sha-256"
    stored = postgres.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{postgres.user}'")
    assert stored.startswith("SCRAM-SHA-256$"), stored[:16]
    assert postgres.password not in stored
    methods = postgres.psql("SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%'")
    assert methods.split() == ["scram-sha-256"]


def test_a_new_password_is_hashed_with_scram_too(postgres: PostgresServer) -> None:
    postgres.psql("DROP ROLE IF EXISTS scram_probe; CREATE ROLE scram_probe LOGIN PASSWORD 'probe-pw-0123'")
    try:
        stored = postgres.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_probe'")
        assert stored.startswith("SCRAM-SHA-256$"), stored[:16]
    finally:
        postgres.psql("DROP ROLE scram_probe")
