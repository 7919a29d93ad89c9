"""The static UI and its nginx configuration, as text, for whoever ships them (operator ConfigMap, tests).

Pure functions on the standard library alone, in the shared contract, so the operator ships the UI without
carrying the users API. Tokens in the template are `@NAME@`, since nginx owns `$`.

The files are this package's data (`nginx.conf.template`, `index.html`, `app.js`, `styles.css`, declared
in contract/pyproject.toml), read with importlib.resources, so a plain wheel install carries them. Nothing
here reads the environment: a caller that wants other files passes their directory (the operator's
configuration takes it from WEBSTACK_FRONTEND_DIR).

`nginx.conf.template`'s own header comment still names `users_api.frontend`, where this code lived when it
was written. It is kept byte for byte on purpose: the rendered nginx.conf is in every stack's frontend
ConfigMap and its checksum in the pod template, so any edit, even to a comment, rolls every frontend
Deployment on upgrade (tests/unit/delivery/test_frontend_upgrade.py holds the render to a9fcf4e's).
"""

from __future__ import annotations

import ipaddress
import re
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

ASSET_NAMES = ("index.html", "app.js", "styles.css")
TEMPLATE_NAME = "nginx.conf.template"

_TOKEN = re.compile(r"@[A-Z][A-Z0-9_]*@")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]+")
# How long nginx keeps the backend's address: after the backend Service is created again, /api reaches
# the new ClusterIP within this many seconds once the cluster DNS answers with it (its cache: 30 s).
RESOLVE_EVERY_SECONDS = 10


def _read(name: str, directory: Path | None) -> str:
    """One file, from `directory` when given, else from this package's data."""
    if directory is not None:
        return (directory / name).read_text(encoding="utf-8")
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def _resolver_directive(resolver: str | None, backend_host: str) -> str:
    if resolver is None:
        try:
            ipaddress.ip_address(backend_host)
        except ValueError:
            raise ValueError(f"a backend named {backend_host!r} needs a resolver for nginx to ask") from None
        return "# no resolver: the backend is an IP address"
    if not _HOST.fullmatch(resolver):
        raise ValueError(f"resolver must be a host name or an IP address, got {resolver!r}")
    return f"resolver {resolver} valid={RESOLVE_EVERY_SECONDS}s;\n    resolver_timeout 5s;"


def nginx_conf_template(directory: Path | None = None) -> str:
    """The text of `nginx.conf.template`, a complete main nginx.conf with `@NAME@` tokens."""
    return _read(TEMPLATE_NAME, directory)


def load_frontend_assets(directory: Path | None = None) -> dict[str, str]:
    """File name -> text of every UI asset (the keys of a ConfigMap mounted as nginx's root)."""
    return {name: _read(name, directory) for name in ASSET_NAMES}


def render_nginx_conf(
    template: str, *, listen_port: int, backend_url: str, static_root: str, resolver: str | None = None
) -> str:
    """Fill the template. Values are checked, because a bad one would only surface as a crash-looping pod.

    `resolver`: the DNS server nginx asks for the backend's name (in a cluster, its DNS Service's name or
    address); None when the backend is an IP address, which nginx needs no resolver for."""
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
    values = {
        "@LISTEN_PORT@": str(listen_port),
        "@BACKEND_URL@": backend_url,
        "@STATIC_ROOT@": static_root,
        "@RESOLVER@": _resolver_directive(resolver, parts.hostname or ""),
    }
    rendered = _TOKEN.sub(lambda match: values.get(match.group(0), match.group(0)), template)
    leftover = sorted(set(_TOKEN.findall(rendered)))
    if leftover:
        raise ValueError(f"template has tokens without a value: {', '.join(leftover)}")
    return rendered
