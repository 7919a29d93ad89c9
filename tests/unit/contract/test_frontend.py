"""The UI assets and the nginx template the operator renders into a ConfigMap."""

from __future__ import annotations

import ast
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

import webstack_contract
from webstack_contract.frontend import (
    ASSET_NAMES,
    RESOLVE_EVERY_SECONDS,
    TEMPLATE_NAME,
    load_frontend_assets,
    nginx_conf_template,
    render_nginx_conf,
)


def render(**overrides: object) -> str:
    values: dict[str, object] = {
        "listen_port": 8080,
        "backend_url": "http://shop-backend.team-a.svc.cluster.local:80",
        "static_root": "/usr/share/nginx/html",
        "resolver": "kube-dns.kube-system.svc.cluster.local",
    }
    values.update(overrides)
    return render_nginx_conf(nginx_conf_template(), **values)  # type: ignore[arg-type]


def test_template_is_a_complete_main_config_for_a_read_only_root() -> None:
    conf = render()
    assert "@" not in conf.replace("$", "").split("log_format")[0]  # every token filled
    for line in (
        "pid /tmp/nginx.pid;",
        "error_log stderr",
        "access_log /dev/stdout json;",
        "client_max_body_size 64k;",
        "listen 8080;",
        "root /usr/share/nginx/html;",
        'set $webstack_backend "http://shop-backend.team-a.svc.cluster.local:80";',
        "proxy_pass $webstack_backend;",
        "resolver kube-dns.kube-system.svc.cluster.local valid=10s;",
        "location = /healthz",
        "gzip on;",
        "events {",
    ):
        assert line in conf
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{temp}_temp_path /tmp/" in conf
    assert not any(line.strip().startswith("user ") for line in conf.splitlines())


def test_proxy_keeps_the_api_prefix() -> None:
    # proxy_pass without a URI part forwards /api/users unchanged; with one, nginx would strip the prefix.
    conf = render()
    block = conf.split("location /api/ {", 1)[1].split("}", 1)[0]
    assert 'set $webstack_backend "http://shop-backend.team-a.svc.cluster.local:80";' in block
    assert "proxy_pass $webstack_backend;" in block


def test_the_backend_is_looked_up_again_not_once_at_start() -> None:
    """A name in a variable is resolved through `resolver` and again once its `valid=` has passed: a
    re-created backend Service (another ClusterIP) is reached within RESOLVE_EVERY_SECONDS. An address
    needs no resolver; a name without one is refused (nginx would answer 502 to every request)."""
    assert f"valid={RESOLVE_EVERY_SECONDS}s;" in render()
    local = render(backend_url="http://127.0.0.1:8000", resolver=None)
    assert "resolver " not in local.replace("# no resolver", "") and "http://127.0.0.1:8000" in local
    with pytest.raises(ValueError, match="needs a resolver"):
        render(resolver=None)


@pytest.mark.parametrize(
    "overrides",
    [
        {"listen_port": 0},
        {"backend_url": "http://shop-backend:80/"},
        {"backend_url": "shop-backend:80"},
        {"static_root": "relative/dir"},
        {"static_root": "/srv/x; evil"},
        {"resolver": "dns; evil"},
    ],
)
def test_render_rejects_bad_values(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        render(**overrides)


def test_render_rejects_unknown_tokens() -> None:
    with pytest.raises(ValueError, match="@UNKNOWN@"):
        render_nginx_conf(
            "listen @LISTEN_PORT@; x @UNKNOWN@;", listen_port=1, backend_url="http://1.2.3.4", static_root="/"
        )


def test_assets_are_the_three_ui_files() -> None:
    assets = load_frontend_assets()
    assert set(assets) == {"index.html", "app.js", "styles.css"}
    assert assets == {name: files("webstack_contract.frontend").joinpath(name).read_text() for name in assets}
    html = assets["index.html"]
    for element in (
        'id="add-user-form"',
        'id="email"',
        'id="name"',
        'id="users-table"',
        'id="form-error"',
        'id="next-page"',
        'id="cache-state"',
    ):
        assert element in html
    assert "fetch(`/api/users" in assets["app.js"]  # relative URLs only: nginx proxies /api/
    assert ".innerHTML" not in assets["app.js"]  # text only: user data never becomes markup


def test_assets_from_another_directory(tmp_path: Path) -> None:
    for name in ("index.html", "app.js", "styles.css"):
        (tmp_path / name).write_text(f"/* {name} */")
    assert load_frontend_assets(tmp_path)["app.js"] == "/* app.js */"


def test_the_environment_does_not_move_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a caller's argument does: the operator's configuration reads WEBSTACK_FRONTEND_DIR, passes it."""
    for name in ("index.html", "app.js", "styles.css", "nginx.conf.template"):
        (tmp_path / name).write_text(f"# {name}")
    monkeypatch.setenv("WEBSTACK_FRONTEND_DIR", str(tmp_path))
    assert load_frontend_assets()["index.html"] != "# index.html"
    assert nginx_conf_template() != "# nginx.conf.template"
    assert nginx_conf_template(tmp_path) == "# nginx.conf.template"


CONTRACT = Path(next(iter(webstack_contract.__path__)))


def test_no_module_of_the_contract_reads_the_environment() -> None:
    """The operator's rule (only its CLI reads the environment) holds for what it imports from here too."""
    readers = []
    for path in sorted(CONTRACT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                readers.append(str(path.relative_to(CONTRACT)))
            if isinstance(node, ast.alias) and node.name in {"environ", "getenv"}:
                readers.append(str(path.relative_to(CONTRACT)))
    assert sorted(set(readers)) == []


def test_the_files_are_package_data_of_the_contract() -> None:
    """Beside the code and declared in its pyproject, so a wheel (not only an editable install) has them."""
    pyproject = tomllib.loads((CONTRACT.parent / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    assert "webstack_contract.frontend" in setuptools["packages"]
    declared = setuptools["package-data"]["webstack_contract.frontend"]
    assert sorted(declared) == sorted([TEMPLATE_NAME, *ASSET_NAMES])
    data = sorted(
        p.name for p in (CONTRACT / "frontend").iterdir() if p.suffix not in {".py", ".pyc"} and p.is_file()
    )
    assert data == sorted(declared)
