"""`python -m bench`: run every benchmark section in order. Another section is one more SECTIONS entry."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bench import operator, users_api

# (title, run). Each section prints its own results and rewrites only its own part of docs/benchmarks.md.
SECTIONS: list[tuple[str, Callable[[], None]]] = [
    ("users API under wrk", users_api.run),
    ("operator on the local control plane", operator.run),
]


def main() -> int:
    for title, run in SECTIONS:
        started = time.monotonic()
        print(f"== {title}", flush=True)
        run()
        print(f"== {title}: done in {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
