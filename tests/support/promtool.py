"""`promtool check rules` and `promtool test rules` over rendered rules, from the binaries cache.

promtool has no command that only parses one expression, so `check_expressions` wraps each in a recording
rule: `check rules` parses every `expr` (and every annotation template) and reports the bad ones.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubelocal.binaries import PrometheusBinaries


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs promtool; the caller asserts on the return code and shows the output."""
    binary = PrometheusBinaries.locate().promtool
    return subprocess.run(
        [str(binary), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def write_rules(path: Path, groups: Sequence[Mapping[str, Any]]) -> Path:
    """A Prometheus rules file: what a PrometheusRule's `spec` holds."""
    path.write_text(yaml.safe_dump({"groups": [dict(g) for g in groups]}, sort_keys=False))
    return path


def check_rules(workdir: Path, groups: Sequence[Mapping[str, Any]]) -> subprocess.CompletedProcess[str]:
    return promtool("check", "rules", str(write_rules(workdir / "rules.yml", groups)), cwd=workdir)


def check_expressions(workdir: Path, expressions: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Parses each expression (keyed by a label for the report) as a recording rule's `expr`."""
    rules = [
        {"record": f"check:expr_{index}", "expr": expr, "labels": {"what": what}}
        for index, (what, expr) in enumerate(expressions.items())
    ]
    return check_rules(workdir, [{"name": "expressions", "rules": rules}])
