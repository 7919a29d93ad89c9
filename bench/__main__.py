"""`python -m bench`: run every benchmark section in order. Another section is one more SECTIONS entry.

`BENCH_ONLY=operator` (or `users_api`, `failover`: the module's name) runs that one section."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from bench import failover, operator, users_api

# (title, run). Each section prints its own results and rewrites only its own part of docs/benchmarks.md.
SECTIONS: list[tuple[str, Callable[[], None]]] = [
    ("users API against the seed's stack under wrk", users_api.run),
    ("operator on the local control plane", operator.run),
    ("failover and recovery after an API outage", failover.run),
]


def main() -> int:
    only = os.environ.get("BENCH_ONLY")
    chosen = [(t, run) for t, run in SECTIONS if not only or run.__module__ == f"bench.{only}"]
    if not chosen:
        modules = ", ".join(run.__module__.removeprefix("bench.") for _, run in SECTIONS)
        print(f"BENCH_ONLY={only}: no such section (one of: {modules})", file=sys.stderr)
        return 2
    for title, run in chosen:
        started = time.monotonic()
        print(f"== {title}", flush=True)
        run()
        print(f"== {title}: done in {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
