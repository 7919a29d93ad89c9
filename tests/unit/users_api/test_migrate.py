"""The bundled migrations: found inside the package, in order, with stable checksums."""

from __future__ import annotations

from users_api.migrate import ADVISORY_LOCK_KEY, Migration, bundled_migrations


def test_bundled_migrations_are_ordered_sql() -> None:
    migrations = bundled_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(versions)
    assert versions[0] == "0001_create_users"
    assert "CREATE TABLE users" in migrations[0].sql


def test_checksum_changes_with_the_text() -> None:
    assert Migration("1", "a").checksum != Migration("1", "b").checksum
    assert -(2**63) <= ADVISORY_LOCK_KEY < 2**63
