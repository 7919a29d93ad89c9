"""Bodies encoded from rows are byte for byte what the response models serialize (the documented contract)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from users_api import users
from users_api.bodies import page_body, user_body
from users_api.models import User, UserPage

# What asyncpg hands back for a users row: timestamptz as an aware datetime in UTC.
instants = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9999, 12, 31), timezones=st.just(dt.UTC)
)
COLUMNS = ("id", "email", "name", "created_at", "updated_at")  # users.py's select list, in order
rows = st.tuples(
    # What bodies.py reads by position, as from asyncpg's Record.
    st.integers(min_value=1, max_value=2**63 - 1),
    st.text(min_size=1),
    st.text(min_size=1),
    instants,
    instants,
)


@given(rows)
def test_a_user_body_equals_the_model_serialization(row: tuple[Any, ...]) -> None:
    user = User.model_validate(dict(zip(COLUMNS, row, strict=True)))
    assert user_body(row) == user.__pydantic_serializer__.to_json(user)


@given(st.lists(rows, max_size=5), st.one_of(st.none(), st.text()))
def test_a_page_body_equals_the_model_serialization(
    page_rows: list[tuple[Any, ...]], cursor: str | None
) -> None:
    page = UserPage(
        items=[User.model_validate(dict(zip(COLUMNS, row, strict=True))) for row in page_rows],
        next_cursor=cursor,
    )
    assert page_body(page_rows, cursor) == page.__pydantic_serializer__.to_json(page)


def test_the_read_queries_select_the_columns_in_the_order_bodies_reads_them() -> None:
    select = f"SELECT {', '.join(COLUMNS)} FROM users "
    assert users.LIST_PAGE.startswith(select)
    assert users.GET_ONE.startswith(select)
    assert tuple(User.model_fields) == COLUMNS
