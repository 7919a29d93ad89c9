"""Debian's nginx with the UI's real config template, serving the UI files as the ConfigMap would."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from localservices.server import HttpServer

NGINX = os.environ.get("WEBSTACK_NGINX", "/usr/sbin/nginx")


class NginxServer(HttpServer):
    name = "nginx"
    run_as = "nobody"

    def __init__(
        self,
        *,
        backend_url: str,
        assets: Mapping[str, str] | None = None,
        template: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(port=port)
        from webstack_contract.frontend import load_frontend_assets, nginx_conf_template

        self.backend_url = backend_url
        self.assets = dict(assets) if assets is not None else load_frontend_assets()
        self.template = template if template is not None else nginx_conf_template()
        self.html_dir = self.dir / "html"
        self.conf_path = self.dir / "nginx.conf"

    def render(self) -> str:
        from webstack_contract.frontend import render_nginx_conf

        # The template writes under /tmp (an emptyDir in Kubernetes); here each instance gets its own dir so
        # parallel servers never share a pid file or temp files.
        template = self.template.replace(" /tmp/", f" {self.dir}/")
        return render_nginx_conf(
            template, listen_port=self.port, backend_url=self.backend_url, static_root=str(self.html_dir)
        )

    def start(self) -> Self:
        self.html_dir.mkdir(exist_ok=True)
        for name, text in self.assets.items():
            (self.html_dir / name).write_text(text)
        self.conf_path.write_text(self.render())
        self._spawn(
            [NGINX, "-e", "stderr", "-p", str(self.dir), "-c", str(self.conf_path), "-g", "daemon off;"]
        )
        return self
