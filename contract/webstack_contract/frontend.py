"""The static UI and its nginx configuration, as text, for whoever ships them (operator ConfigMap, tests).

Pure functions on the standard library alone, in the shared contract, so the operator ships the UI without
carrying the users API. Tokens in the template are `@NAME@`, since nginx owns `$`.

The files themselves stay in `webapp/frontend` (the users API's UI). An image sets WEBSTACK_FRONTEND_DIR to
where it copied them; without it, the default is that folder in the work tree this package is installed
from (editable, as the development venv does).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

FRONTEND_DIR = Path(
    os.environ.get("WEBSTACK_FRONTEND_DIR") or Path(__file__).resolve().parents[2] / "webapp" / "frontend"
)
ASSET_NAMES = ("index.html", "app.js", "styles.css")
TEMPLATE_NAME = "nginx.conf.template"

_TOKEN = re.compile(r"@[A-Z][A-Z0-9_]*@")


def _frontend_dir() -> Path:
    """Re-read the environment on each call, so setting it after import (tests, the operator) still works."""
    return Path(os.environ.get("WEBSTACK_FRONTEND_DIR") or FRONTEND_DIR)


def nginx_conf_template(directory: Path | None = None) -> str:
    """The text of `nginx.conf.template`, a complete main nginx.conf with `@NAME@` tokens."""
    return ((directory or _frontend_dir()) / TEMPLATE_NAME).read_text(encoding="utf-8")


def load_frontend_assets(directory: Path | None = None) -> dict[str, str]:
    """File name -> text of every UI asset (the keys of a ConfigMap mounted as nginx's root)."""
    root = directory or _frontend_dir()
    return {name: (root / name).read_text(encoding="utf-8") for name in ASSET_NAMES}


def render_nginx_conf(template: str, *, listen_port: int, backend_url: str, static_root: str) -> str:
    """Fill the template. Values are checked, because a bad one would only surface as a crash-looping pod."""
    if not 1 <= listen_port <= 65_535:
        raise ValueError(f"listen_port must be 1..65535, got {listen_port}")
    parts = urlsplit(backend_url)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"backend_url must be http(s)://host:port, no path (/api is kept), got {backend_url!r}"
        )
    if not static_root.startswith("/") or re.search(r"[\s;{}'\"$]", static_root):
        raise ValueError(
            f"static_root must be an absolute path without spaces or nginx syntax, got {static_root!r}"
        )
    values = {"@LISTEN_PORT@": str(listen_port), "@BACKEND_URL@": backend_url, "@STATIC_ROOT@": static_root}
    rendered = _TOKEN.sub(lambda match: values.get(match.group(0), match.group(0)), template)
    leftover = sorted(set(_TOKEN.findall(rendered)))
    if leftover:
        raise ValueError(f"template has tokens without a value: {', '.join(leftover)}")
    return rendered
