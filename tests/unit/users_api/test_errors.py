"""Problem documents: RFC 9457 shape, media type, and field errors without the rejected input."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from users_api.errors import (
    PROBLEM_MEDIA_TYPE,
    field_errors,
    problem_document,
    problem_response,
    summarize_fields,
)
from users_api.models import UserCreate


def test_document_shape() -> None:
    assert problem_document(404, "No user with id 7.", instance="/api/users/7") == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No user with id 7.",
        "instance": "/api/users/7",
    }


def test_response_uses_problem_media_type_and_headers() -> None:
    response = problem_response(
        503, "down", headers={"Retry-After": "2"}, extra={"checks": {"database": "x"}}
    )
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == "2"
    assert orjson.loads(response.body)["checks"] == {"database": "x"}


def test_field_errors_name_fields_and_omit_input() -> None:
    with pytest.raises(ValidationError) as caught:
        UserCreate.model_validate({"email": "secret-not-an-email", "extra": 1})
    errors = field_errors(caught.value)
    assert {e["field"] for e in errors} == {"email", "name", "extra"}
    assert "secret-not-an-email" not in orjson.dumps(errors).decode()
    assert summarize_fields(errors) == "invalid fields: email, extra, name"
