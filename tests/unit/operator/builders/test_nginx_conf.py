"""The frontend's rendered nginx.conf passes `nginx -t` with Debian's nginx."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.support.rendered_stacks import make_stack

from webstack_operator.builders.frontend import STATIC_ROOT, nginx_conf

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def test_rendered_nginx_conf_passes_nginx_t(tmp_path: Path) -> None:
    if not Path(NGINX).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (scripts/setup.sh apt installs it)")
        pytest.skip("nginx is not installed: run `bash scripts/setup.sh apt`")
    stack = make_stack()
    conf = nginx_conf(stack)
    # nginx serves from STATIC_ROOT, and resolves the resolver's name at start (in a pod, through the
    # cluster's DNS): point both at what exists on this machine, changing nothing else. The backend's name
    # is resolved per request (a variable), so `-t` does not look it up. /etc/nginx/mime.types exists in
    # Debian and the image.
    assert f"resolver {stack.settings.cluster_dns} valid=" in conf
    conf = conf.replace(STATIC_ROOT, str(tmp_path)).replace(stack.settings.cluster_dns, "127.0.0.1")
    path = tmp_path / "nginx.conf"
    path.write_text(conf, encoding="utf-8")
    result = subprocess.run(
        [NGINX, "-t", "-c", str(path), "-p", str(tmp_path), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
