"""Field types shared by the spec's sections: images, quantities, DNS names, CIDRs, labels and label keys."""

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.patterns import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    IMAGE_PATTERN,
    LABEL_KEY_PATTERN,
    LABEL_VALUE_PATTERN,
)
from webstack_operator.kube.quantity import QUANTITY_PATTERN, is_quantity

IMAGE_NOT_LATEST = "pin a version tag or a digest: ':latest' cannot be rolled back or reviewed"


def _check_image(value: str) -> str:
    if value.endswith(":latest"):
        raise ValueError(IMAGE_NOT_LATEST)
    return value


Image = Annotated[
    str,
    Field(
        pattern=IMAGE_PATTERN,
        max_length=512,
        json_schema_extra=cel_rules(cel("!self.endsWith(':latest')", IMAGE_NOT_LATEST)),
    ),
    AfterValidator(_check_image),
]


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a quantity may not be negative")
        return value
    if not is_quantity(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 100m, 500m, 128Mi, 1Gi)")
    return value


# The same int-or-string form Kubernetes uses for resource.Quantity (`cpu: 1` and `cpu: 100m` both work).
Quantity = Annotated[
    int | str,
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
DnsSubdomain = Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)]

CIDR_MESSAGE = "must be a CIDR such as 10.0.0.0/16 or 2600:1f18::/56, with no bits set after the prefix"
_CIDR_SHAPE = re.compile(r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")


def _check_cidr(value: str) -> str:
    try:
        if not _CIDR_SHAPE.match(value):
            raise ValueError(value)
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"{value!r} {CIDR_MESSAGE}") from None
    return value


# An IPv4 or IPv6 network as a NetworkPolicy ipBlock takes it. `isCIDR`/`cidr()` are the apiserver's CIDR
# CEL library (Kubernetes 1.31+).
Cidr = Annotated[
    str,
    Field(
        max_length=43,
        json_schema_extra=cel_rules(cel("isCIDR(self) && cidr(self) == cidr(self).masked()", CIDR_MESSAGE)),
    ),
    AfterValidator(_check_cidr),
]

# Label keys and values as selectors take them (`prefix/name: value`): NetworkPolicy peers, node selectors.
_CEL_LABEL_KEY = LABEL_KEY_PATTERN.replace("\\", "\\\\")  # a CEL string literal escapes backslashes
LABEL_KEY_MESSAGE = "every key must be a label key such as k8s-app or kubernetes.io/metadata.name"
ONE_LABEL_KEY_MESSAGE = (
    "must be a label key such as topology.kubernetes.io/zone or karpenter.sh/capacity-type: an optional "
    "DNS subdomain and '/', then at most 63 letters, digits, '-', '_' or '.', beginning and ending with a "
    "letter or digit"
)


def _is_label_key(key: str) -> bool:
    return len(key) <= 317 and re.match(LABEL_KEY_PATTERN, key) is not None


def _check_label_keys(value: dict[str, str]) -> dict[str, str]:
    bad = [key for key in value if not _is_label_key(key)]
    if bad:
        raise ValueError(f"{LABEL_KEY_MESSAGE} (got {', '.join(map(repr, bad))})")
    return value


def _check_label_key(value: str) -> str:
    if not _is_label_key(value):
        raise ValueError(f"{value!r} {ONE_LABEL_KEY_MESSAGE}")
    return value


LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=63)]
LabelKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=317,
        json_schema_extra=cel_rules(cel(f"self.matches('{_CEL_LABEL_KEY}')", ONE_LABEL_KEY_MESSAGE)),
    ),
    AfterValidator(_check_label_key),
]


def _check_toleration_key(value: str) -> str:
    return value if value == "" else _check_label_key(value)


# A toleration's key: a label key, or empty as Kubernetes allows it (with operator Exists: every taint).
TolerationKey = Annotated[
    str,
    Field(
        max_length=317,
        json_schema_extra=cel_rules(
            cel(f"self == '' || self.matches('{_CEL_LABEL_KEY}')", ONE_LABEL_KEY_MESSAGE)
        ),
    ),
    AfterValidator(_check_toleration_key),
]
_LABEL_KEYS_RULE = cel_rules(
    cel(f"self.all(k, size(k) <= 317 && k.matches('{_CEL_LABEL_KEY}'))", LABEL_KEY_MESSAGE)
)
Labels = Annotated[
    dict[str, LabelValue],
    Field(min_length=1, max_length=8, json_schema_extra=_LABEL_KEYS_RULE),
    AfterValidator(_check_label_keys),
]
# A placement's keys (nodeSelector, a spread's matchLabels): its own words, naming the bad key (the
# messageExpression: `filter` on a map lists its keys) as the models do.
SELECTOR_KEY_MESSAGE = (
    "is not a label key: nodeSelector and matchLabels keys are an optional DNS subdomain and '/', then at "
    "most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit, e.g. "
    "eks.amazonaws.com/nodegroup or karpenter.sh/capacity-type"
)
_CEL_IS_LABEL_KEY = f"size(k) <= 317 && k.matches('{_CEL_LABEL_KEY}')"
_CEL_FIRST_BAD_KEY = f"self.filter(k, !({_CEL_IS_LABEL_KEY}))[0]"


def _check_selector_keys(value: dict[str, str]) -> dict[str, str]:
    bad = [key for key in value if not _is_label_key(key)]
    if bad:
        raise ValueError(f"{bad[0]!r} {SELECTOR_KEY_MESSAGE}")
    return value


# Labels as a node selector or a pod selector takes them. Empty is allowed: a component's `nodeSelector: {}`
# clears the stack-wide default (api/placement_types.py).
LabelMap = Annotated[
    dict[str, LabelValue],
    Field(
        max_length=16,
        json_schema_extra=cel_rules(
            cel(
                f"self.all(k, {_CEL_IS_LABEL_KEY})",
                f"a key {SELECTOR_KEY_MESSAGE}",
                message_expression=f'"\'" + {_CEL_FIRST_BAD_KEY} + "\' {SELECTOR_KEY_MESSAGE}"',
            )
        ),
    ),
    AfterValidator(_check_selector_keys),
]
