"""Request models: what a valid user looks like, and what a partial update may contain."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from users_api.models import UserCreate, UserUpdate


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
