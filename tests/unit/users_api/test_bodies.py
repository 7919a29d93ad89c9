"""Bodies encoded from rows are byte for byte what the response models serialize (the documented contract)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from users_api.bodies import page_body, user_body
from users_api.models import User, UserPage

# What asyncpg hands back for a users row: timestamptz as an aware datetime in UTC.
instants = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9999, 12, 31), timezones=st.just(dt.UTC)
)
rows = st.builds(
    # A dict in column order, as asyncpg's Record iterates (fixed_dictionaries may shuffle the keys).
    lambda *values: dict(zip(("id", "email", "name", "created_at", "updated_at"), values, strict=True)),
    st.integers(min_value=1, max_value=2**63 - 1),
    st.text(min_size=1),
    st.text(min_size=1),
    instants,
    instants,
)


@given(rows)
def test_a_user_body_equals_the_model_serialization(row: dict[str, Any]) -> None:
    user = User.model_validate(row)
    assert user_body(row) == user.__pydantic_serializer__.to_json(user)


@given(st.lists(rows, max_size=5), st.one_of(st.none(), st.text()))
def test_a_page_body_equals_the_model_serialization(
    page_rows: list[dict[str, Any]], cursor: str | None
) -> None:
    page = UserPage(items=[User.model_validate(row) for row in page_rows], next_cursor=cursor)
    assert page_body(page_rows, cursor) == page.__pydantic_serializer__.to_json(page)
