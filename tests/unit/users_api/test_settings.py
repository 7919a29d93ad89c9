"""Settings validation: defaults, the libpq fallback, and one readable line per bad variable."""

from __future__ import annotations

import pytest

from users_api.settings import SettingsError, load_settings

DSN = "postgresql://app:s3cret@db:5432/app"


def test_defaults() -> None:
    settings = load_settings({"DATABASE_URL": DSN})
    assert settings.cache_ttl_seconds == 30
    assert settings.cache_enabled is True
    assert settings.redis_url is None
    assert settings.cache_active is False
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)
    assert settings.max_body_bytes == 65_536
    assert settings.run_migrations is False
    assert settings.log_level == "info"
    assert "s3cret" not in repr(settings)


def test_empty_redis_url_disables_the_cache() -> None:
    assert load_settings({"DATABASE_URL": DSN, "REDIS_URL": ""}).cache_active is False
    enabled = load_settings({"DATABASE_URL": DSN, "REDIS_URL": "redis://cache:6379/0"})
    assert enabled.cache_active is True
    disabled = load_settings({"DATABASE_URL": DSN, "REDIS_URL": "redis://cache", "CACHE_ENABLED": "false"})
    assert disabled.cache_active is False


def test_values_are_parsed_from_strings() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": DSN,
            "CACHE_TTL_SECONDS": "5",
            "RUN_MIGRATIONS": "1",
            "LOG_LEVEL": "WARNING",
            "PORT": " 9000 ",
            "DB_POOL_MIN_SIZE": "2",
            "DB_POOL_MAX_SIZE": "4",
        }
    )
    assert (settings.cache_ttl_seconds, settings.run_migrations, settings.log_level) == (5, True, "warning")
    assert (settings.port, settings.db_pool_min_size, settings.db_pool_max_size) == (9000, 2, 4)


def test_libpq_variables_build_the_url_with_escaping() -> None:
    settings = load_settings(
        {"PGHOST": "shop-postgres", "PGUSER": "shop", "PGPASSWORD": "p@ss/w:rd", "PGDATABASE": "shop"}
    )
    assert (
        settings.database_url.get_secret_value()
        == "postgresql://shop:p%40ss%2Fw%3Ard@shop-postgres:5432/shop"
    )


def test_libpq_database_defaults_to_the_user() -> None:
    url = load_settings({"PGHOST": "db", "PGUSER": "shop", "PGPORT": "6432"}).database_url.get_secret_value()
    assert url == "postgresql://shop@db:6432/shop"


def test_database_url_wins_over_libpq_variables() -> None:
    settings = load_settings({"DATABASE_URL": DSN, "PGHOST": "elsewhere", "PGUSER": "x"})
    assert settings.database_url.get_secret_value() == DSN


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "DATABASE_URL is not set, and neither is PGHOST"),
        ({"PGHOST": "db"}, "PGUSER is not set"),
        ({"PGHOST": "db", "PGUSER": "u", "PGPORT": "0"}, "PGPORT='0'"),
        (
            {"DATABASE_URL": DSN, "PORT": "http"},
            "invalid setting PORT='http': Input should be a valid integer",
        ),
        ({"DATABASE_URL": DSN, "PORT": "70000"}, "PORT='70000'"),
        ({"DATABASE_URL": DSN, "CACHE_TTL_SECONDS": "-1"}, "CACHE_TTL_SECONDS='-1'"),
        ({"DATABASE_URL": DSN, "LOG_LEVEL": "loud"}, "LOG_LEVEL='loud'"),
        ({"DATABASE_URL": DSN, "DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "2"}, "DB_POOL_MIN_SIZE (5)"),
        (
            {"DATABASE_URL": "mysql://u:s3cret@h/db"},
            "invalid setting DATABASE_URL: must be a postgresql:// URL",
        ),
        (
            {"DATABASE_URL": DSN, "REDIS_URL": "memcached://s3cret@h"},
            "invalid setting REDIS_URL: must be a redis",
        ),
    ],
)
def test_bad_values_name_the_variable_without_echoing_secrets(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": DSN, "PORT": "x", "CACHE_TTL_SECONDS": "y"})
    assert "PORT" in str(caught.value)
    assert "CACHE_TTL_SECONDS" in str(caught.value)


def test_the_near_cache_is_on_by_default_bounded_and_needs_redis() -> None:
    with_redis = load_settings({"DATABASE_URL": "postgresql://u@h/d", "REDIS_URL": "redis://r:6379/0"})
    assert with_redis.near_cache_active
    assert (with_redis.near_cache_max_entries, with_redis.near_cache_max_bytes) == (10_000, 32 * 1024 * 1024)
    assert not load_settings({"DATABASE_URL": "postgresql://u@h/d"}).near_cache_active
    off = load_settings(
        {"DATABASE_URL": "postgresql://u@h/d", "REDIS_URL": "redis://r:6379/0", "NEAR_CACHE_ENABLED": "false"}
    )
    assert off.cache_active and not off.near_cache_active
    with pytest.raises(SettingsError, match="NEAR_CACHE_MAX_BYTES='12'"):
        load_settings({"DATABASE_URL": "postgresql://u@h/d", "NEAR_CACHE_MAX_BYTES": "12"})


REDIS_PASSWORD = "r3dis-Pw-0123456789abcdef"


def test_the_redis_password_is_read_apart_from_the_url_and_never_shown() -> None:
    settings = load_settings(
        {"DATABASE_URL": DSN, "REDIS_URL": "redis://cache:6379/0", "REDIS_PASSWORD": REDIS_PASSWORD}
    )
    assert settings.redis_password_value() == REDIS_PASSWORD
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert REDIS_PASSWORD not in shown and "s3cret" not in shown
    assert "**********" in repr(settings)


def test_no_redis_password_means_none() -> None:
    assert load_settings({"DATABASE_URL": DSN}).redis_password_value() is None
    assert load_settings({"DATABASE_URL": DSN, "REDIS_PASSWORD": ""}).redis_password_value() is None


def test_a_bad_setting_beside_the_redis_password_does_not_echo_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": DSN, "REDIS_URL": "http://cache", "REDIS_PASSWORD": REDIS_PASSWORD})
    assert REDIS_PASSWORD not in str(caught.value)
