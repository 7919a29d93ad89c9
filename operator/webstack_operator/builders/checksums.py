"""Stable digests: of configuration (on a pod template, so a change rolls the pods), and for names."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

CONFIG_CHECKSUM_ANNOTATION = "webstack.dev/config-checksum"


def checksum(data: Mapping[str, Any]) -> str:
    """A stable digest of configuration, put on a pod template so a change rolls the pods."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def short_hash(text: str, length: int = 8) -> str:
    """A short, stable hash for names that must be unique but bounded."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]
