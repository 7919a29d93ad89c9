"""References to other objects in the WebStack's namespace: an object, a Secret's key, a ConfigMap's key."""

from pydantic import Field

from webstack_operator.api.field_types import DnsSubdomain
from webstack_operator.api.model_base import ApiModel


class LocalObjectReference(ApiModel):
    """A reference to an object in the WebStack's own namespace."""

    name: DnsSubdomain = Field(description="Name of the object, in the WebStack's namespace.")


class SecretKeySelector(ApiModel):
    """A key of a Secret in the WebStack's namespace."""

    name: DnsSubdomain = Field(description="Name of the Secret.")
    key: str = Field(
        min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$", description="Key in the Secret."
    )


class ConfigMapKeySelector(ApiModel):
    """A key of a ConfigMap in the WebStack's namespace."""

    name: DnsSubdomain = Field(description="Name of the ConfigMap.")
    key: str = Field(
        min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$", description="Key in the ConfigMap."
    )
