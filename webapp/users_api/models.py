"""Request and response bodies: both directions are validated with these, and OpenAPI is built from them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is the mail server's job.
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _check_email(value: str) -> str:
    if not _EMAIL_PATTERN.fullmatch(value):
        raise ValueError("must be an email address like name@example.com")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254), AfterValidator(_check_email)
]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email
    name: Name


class UserUpdate(BaseModel):
    """A partial update: only the fields present change."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> UserUpdate:
        if not self.model_fields_set:
            raise ValueError("at least one of email, name is required")
        if self.email is None and "email" in self.model_fields_set:
            raise ValueError("email cannot be null")
        if self.name is None and "name" in self.model_fields_set:
            raise ValueError("name cannot be null")
        return self


class User(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int = Field(ge=1)
    email: str
    name: str
    created_at: datetime
    updated_at: datetime


class UserPage(BaseModel):
    items: list[User]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
