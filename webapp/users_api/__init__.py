"""The users API: a Starlette service over Postgres with a Redis cache-aside layer."""

__version__ = "0.1.0"
