"""Request models: what a valid user is, what a partial update may contain, and that the schema says so."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from users_api.models import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    WHITESPACE,
    UserCreate,
    UserUpdate,
)


def test_create_strips_whitespace() -> None:
    user = UserCreate.model_validate({"email": " ada@example.com ", "name": " Ada "})
    assert (user.email, user.name) == ("ada@example.com", "Ada")


@pytest.mark.parametrize("email", ["plain", "a@b", "a b@c.de", "@c.de", "a@@c.de", "x" * 250 + "@c.de"])
def test_create_rejects_bad_emails(email: str) -> None:
    with pytest.raises(ValidationError):
        UserCreate.model_validate({"email": email, "name": "A"})


def test_update_is_partial_but_not_empty_or_null() -> None:
    assert UserUpdate.model_validate({"name": "B"}).email is None
    for payload in ({}, {"name": None}, {"email": None}):
        with pytest.raises(ValidationError):
            UserUpdate.model_validate(payload)


def test_whitespace_is_what_str_strip_strips() -> None:
    assert set(WHITESPACE) == {chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()}


def _accepted(model: type[UserCreate], email: str, name: str) -> bool:
    try:
        model.model_validate({"email": email, "name": name})
    except ValidationError:
        return False
    return True


@given(st.text(max_size=260))
def test_an_email_is_accepted_exactly_when_the_published_schema_allows_it(email: str) -> None:
    """The OpenAPI document publishes the same rule (pattern and length) the app enforces."""
    allowed = len(email) <= EMAIL_MAX_LENGTH and re.fullmatch(EMAIL_PATTERN, email) is not None
    assert _accepted(UserCreate, email, "A") == allowed


@given(st.from_regex(EMAIL_PATTERN, fullmatch=True).filter(lambda email: len(email) <= EMAIL_MAX_LENGTH))
def test_every_email_of_the_pattern_is_accepted(email: str) -> None:
    assert UserCreate.model_validate({"email": email, "name": "A"}).email == email.strip()


@given(st.text(max_size=210))
def test_a_name_is_accepted_exactly_when_the_published_schema_allows_it(name: str) -> None:
    allowed = 1 <= len(name) <= NAME_MAX_LENGTH and re.fullmatch(NAME_PATTERN, name) is not None
    assert _accepted(UserCreate, "a@example.com", name) == allowed


@pytest.mark.parametrize(
    "payload", [{"email": "a\x00b@example.com", "name": "A"}, {"email": "a@example.com", "name": "A\x00"}]
)
def test_nul_is_refused_before_it_reaches_postgres(payload: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        UserCreate.model_validate(payload)


def test_null_in_an_update_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        UserUpdate.model_validate({"email": None, "name": None})
    assert {error["loc"] for error in caught.value.errors()} == {("email",), ("name",)}


def test_the_update_schema_has_no_null_and_no_empty_object() -> None:
    schema = UserUpdate.model_json_schema()
    assert schema["minProperties"] == 1
    for field in schema["properties"].values():
        assert field["type"] == "string"
        assert "anyOf" not in field
        assert "default" not in field
