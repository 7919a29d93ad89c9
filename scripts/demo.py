"""`make demo`: the whole system on one machine, on real pods where it can run them (localdemo.main)."""

from __future__ import annotations

import sys

from localdemo.main import main

if __name__ == "__main__":
    sys.exit(main())
