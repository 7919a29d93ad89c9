"""Request and response bodies: both directions are validated with these, and OpenAPI is built from them.

Each rule on a string is one regular expression that the app enforces (`re.fullmatch`) and the OpenAPI
document publishes (`pattern`), written so that Python's `re` and ECMA-262 (JSON Schema's dialect) read it
the same way: anchored at both ends, explicit character classes instead of `\\s`, whose members differ
between the two. Lengths are counted on the value as sent, as JSON Schema does; surrounding whitespace is
stripped only after the checks pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# Whitespace as str.strip() and str.isspace() see it, as a character class body; a unit test keeps them equal.
_WS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WHITESPACE = "".join(chr(code) for code in range(0x3001) if re.fullmatch(f"[{_WS}]", chr(code)))
# Postgres text cannot hold NUL; refusing it here keeps it a 422 instead of a database error.
_TEXT = r"[^\x00]"

# Deliberately simple: one @, no whitespace, a dot in the domain. Deliverability is the mail server's job.
EMAIL_PATTERN = rf"^[{_WS}]*[^@{_WS}\x00]+@[^@{_WS}\x00]+\.[^@{_WS}\x00]+[{_WS}]*$"
EMAIL_MAX_LENGTH = 254
# Anything but NUL, with at least one character that is not whitespace.
NAME_PATTERN = rf"^{_TEXT}*[^{_WS}\x00]{_TEXT}*$"
NAME_MAX_LENGTH = 200


def _matching(pattern: str, message: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check_then_strip(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message)
        return value.strip(WHITESPACE)

    return check_then_strip


Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX_LENGTH, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(_matching(EMAIL_PATTERN, "must be an email address like name@example.com")),
]
Name = Annotated[
    str,
    Field(min_length=1, max_length=NAME_MAX_LENGTH, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(_matching(NAME_PATTERN, "needs a character other than whitespace, and no NUL character")),
]


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "ada@example.com", "name": "Ada Lovelace"}]}
    )

    email: Email
    name: Name


def _present_fields_are_not_null(schema: dict[str, Any]) -> None:
    """In the document, a field of a partial update is either absent or a value: never null, never `{}`."""
    for field in schema["properties"].values():
        (value,) = (branch for branch in field.pop("anyOf") if branch.get("type") != "null")
        field.pop("default", None)
        field.update(value)
    schema["minProperties"] = 1


class UserUpdate(BaseModel):
    """A partial update: the fields present change, the others keep their value. A field is never null."""

    # null is refused rather than read as "unchanged": `"email": null` may mean "clear it", which no field
    # allows. The document says so (the fields are not nullable), so generated clients omit unset fields.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_present_fields_are_not_null)

    email: Email | None = None
    name: Name | None = None

    @field_validator("email", "name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("null is not a value here: leave the field out to keep it unchanged")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> UserUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one of email, name")
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
