"""The browser the e2e tests drive: Debian's chromium and the flags it runs with."""

from __future__ import annotations

# Debian's chromium, headless, with nothing that reaches for the (absent) internet.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
