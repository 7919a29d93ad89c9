"""The one name for a JSON object as the apiserver sends and takes it: an object, a patch, a list."""

from typing import Any

JSON = dict[str, Any]
