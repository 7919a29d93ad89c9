"""The base of every WebStack API model, and the field of a sub-object that may be omitted."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """camelCase on the wire (only: offline validation accepts exactly what the apiserver accepts),
    immutable in memory, unknown fields rejected (a typo is an error, not a silently ignored setting)."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True)


def optional_section(model: type[BaseModel], description: str) -> Any:
    """A sub-object that may be omitted. Its CRD default is written out in full (not `{}`): the apiserver
    checks a default against the object's CEL rules as written, without first applying nested defaults."""
    default = model().model_dump(mode="json", by_alias=True, exclude_none=True)
    return Field(default_factory=model, description=description, json_schema_extra={"default": default})
