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
    conf = nginx_conf(make_stack())
    # The image serves from STATIC_ROOT and may not resolve our Service names here: point both at what
    # exists on this machine, changing nothing else. /etc/nginx/mime.types exists in Debian and the image.
    conf = conf.replace(STATIC_ROOT, str(tmp_path)).replace("http://shop-backend:80", "http://127.0.0.1:9")
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
