"""Frontend: ConfigMap with nginx.conf and assets, Deployment rolled by checksum, Service."""

from __future__ import annotations

from tests.support.rendered_stacks import SETTINGS, find, make_stack

from webstack_operator.builders.checksums import CONFIG_CHECKSUM_ANNOTATION
from webstack_operator.builders.frontend import frontend_objects, nginx_conf


def test_config_map_holds_nginx_conf_and_assets() -> None:
    config_map = find(frontend_objects(make_stack()), "ConfigMap", "shop-frontend")
    assert sorted(config_map["data"]) == sorted(["nginx.conf", *SETTINGS.frontend_assets])
    conf = config_map["data"]["nginx.conf"]
    assert "listen 8080;" in conf
    assert 'set $webstack_backend "http://shop-backend.team-a.svc.cluster.local:80";' in conf
    assert f"resolver {SETTINGS.cluster_dns} valid=" in conf
    assert "root /usr/share/nginx/html;" in conf
    assert "@" + "BACKEND_URL@" not in conf


def test_deployment_mounts_and_checksum() -> None:
    objects = frontend_objects(make_stack(frontend={"replicas": 3}))
    deployment = find(objects, "Deployment", "shop-frontend")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "docker.io/nginxinc/nginx-unprivileged:1.27-alpine"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/nginx/nginx.conf"]["subPath"] == "nginx.conf"
    assert mounts["/usr/share/nginx/html"]["readOnly"] is True
    assert "/tmp" in mounts
    assets = next(v for v in pod["spec"]["volumes"] if v["name"] == "assets")
    assert sorted(i["key"] for i in assets["configMap"]["items"]) == sorted(SETTINGS.frontend_assets)
    assert pod["spec"]["securityContext"]["runAsUser"] == 101
    assert len(pod["metadata"]["annotations"][CONFIG_CHECKSUM_ANNOTATION]) == 64


def test_checksum_changes_with_the_config() -> None:
    def checksum(name: str) -> str:
        deployment = find(frontend_objects(make_stack(name=name)), "Deployment", f"{name}-frontend")
        value: str = deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM_ANNOTATION]
        return value

    # Another stack name means another backend URL in nginx.conf, so another checksum.
    assert checksum("shop") != checksum("store")
    assert checksum("shop") == checksum("shop")


def test_service_and_pdb() -> None:
    objects = frontend_objects(make_stack())
    service = find(objects, "Service", "shop-frontend")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    find(objects, "PodDisruptionBudget", "shop-frontend")


def test_nginx_conf_is_rendered_from_the_settings_template() -> None:
    assert nginx_conf(make_stack()).startswith(SETTINGS.frontend_nginx_template.split("@")[0])
