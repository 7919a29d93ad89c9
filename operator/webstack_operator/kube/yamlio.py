"""YAML output shared by every command, so `crd`, `render` and the committed files agree byte for byte."""

from typing import Any

import yaml


class _NoAliasDumper(yaml.SafeDumper):
    """Writes shared sub-objects out in full: anchors and aliases make manifests hard to review."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(obj: Any) -> str:
    """One YAML document: key order kept (it is the builders' deliberate order), no aliases, stable bytes."""
    return yaml.dump(obj, Dumper=_NoAliasDumper, sort_keys=False, width=110, allow_unicode=True)


def dump_yaml_stream(objs: list[Any]) -> str:
    """Several documents separated by `---`."""
    return "".join("---\n" + dump_yaml(obj) for obj in objs)
