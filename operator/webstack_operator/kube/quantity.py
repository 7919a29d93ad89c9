"""Kubernetes resource quantities: the pattern the apiserver accepts and an exact parser.

The spec validates quantities offline with the same pattern the CRD carries, and the builders need exact
arithmetic on them (a Redis memory limit derived from `maxmemory`), so this is decimal, never float.
"""

import re
from decimal import Decimal

# The canonical form accepted by k8s.io/apimachinery resource.ParseQuantity, restricted to non-negative
# values (a negative CPU request is never meant). RE2- and Python-compatible.
_NUMBER = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY_PATTERN = rf"^(\+)?{_NUMBER}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_NUMBER}))?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_SPLIT = re.compile(r"^([+]?[0-9.]+(?:[eE][+-]?[0-9.]+)?)([a-zA-Z]*)$")


def is_quantity(value: str) -> bool:
    """True when the apiserver would accept `value` as a (non-negative) quantity."""
    return _QUANTITY.match(value) is not None


def parse_quantity(value: int | str) -> Decimal:
    """The exact value of a quantity in base units (bytes, cores)."""
    if isinstance(value, int):
        return Decimal(value)
    if not is_quantity(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 100m, 128Mi, 1Gi, 2)")
    match = _SPLIT.match(value)
    if match is None:  # pragma: no cover - the pattern above admits only what _SPLIT splits
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = match.groups()
    if suffix in _BINARY:
        return Decimal(number) * _BINARY[suffix]
    return Decimal(number) * _DECIMAL[suffix]
