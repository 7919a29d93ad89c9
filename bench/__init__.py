"""Benchmarks, run by `make bench` (`python -m bench`). Not tests: they measure and record, they do not judge.

The process starters live in tools/localservices/ (shared with the tests and the demo); tools/ is a plain
folder, so it is put on the import path here.
"""

import sys
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parents[1] / "tools")
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
