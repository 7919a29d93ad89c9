"""Configuration is read once, from flags and the environment, and nothing else reads the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.config.run_options import ConfigError, load_config, load_settings


def test_defaults_and_environment() -> None:
    config = load_config({})
    assert (config.metrics_port, config.liveness_port, config.resync_seconds) == (8081, 8080, 300.0)
    assert config.namespaces == ()
    assert config.settings.frontend_assets  # the UI is read once, here
    config = load_config(
        {
            "WEBSTACK_METRICS_PORT": "9000",
            "WEBSTACK_METRICS_ADDR": "127.0.0.1",
            "WEBSTACK_RESYNC_SECONDS": "30",
            "WEBSTACK_DISCOVERY_SECONDS": "5",
            "WEBSTACK_VELERO_NAMESPACE": "backups",
            "WEBSTACK_TOKEN_FILE": "/tmp/token",
            "HOSTNAME": "webstack-operator-7d9",
        },
        namespaces=["a", "b"],
        verbose=True,
    )
    assert (config.metrics_port, config.metrics_addr, config.resync_seconds) == (9000, "127.0.0.1", 30.0)
    assert config.discovery_seconds == 5.0
    assert config.settings.velero_namespace == "backups"
    assert (config.token_file, config.instance, config.namespaces) == (
        "/tmp/token",
        "webstack-operator-7d9",
        ("a", "b"),
    )


def test_leader_election_settings() -> None:
    config = load_config({"POD_NAMESPACE": "webstack-system", "HOSTNAME": "op-1"})
    assert (config.leader_election, config.lease_namespace, config.lease_name) == (
        True,
        "webstack-system",
        "webstack-operator",
    )
    assert config.identity.startswith("op-1_")
    assert load_config({"HOSTNAME": "op-1"}).identity != config.identity  # unique per process
    assert not load_config({"WEBSTACK_LEADER_ELECTION": "false"}).leader_election
    assert load_config({"WEBSTACK_LEASE_NAMESPACE": "ops", "POD_NAMESPACE": "x"}).lease_namespace == "ops"
    with pytest.raises(ConfigError, match="WEBSTACK_LEADER_ELECTION"):
        load_config({"WEBSTACK_LEADER_ELECTION": "maybe"})


def test_served_namespaces_are_exact_names_each_once() -> None:
    settings = OperatorSettings()  # not read from disk: only the namespaces matter here
    config = load_config({}, namespaces=["team-a", "team-b", "team-a"], settings=settings)
    assert config.namespaces == ("team-a", "team-b")
    for bad in ("team-*", "Team-A", "", "-a", "a" * 64):
        with pytest.raises(ConfigError, match="--namespace") as error:
            load_config({}, namespaces=[bad], settings=settings)
        assert "patterns are not supported" in str(error.value)


def test_flags_win_over_the_environment() -> None:
    assert load_config({"WEBSTACK_METRICS_PORT": "9000"}, metrics_port=0).metrics_port == 0


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WEBSTACK_RESYNC_SECONDS", "soon", "expected a number"),
        ("WEBSTACK_RESYNC_SECONDS", "0", "at least 1"),
        ("WEBSTACK_METRICS_PORT", "-1", "at least 0"),
    ],
)
def test_a_bad_setting_names_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=name) as error:
        load_config({name: value})
    assert says in str(error.value)


def test_request_slots_setting() -> None:
    """How many requests the operator's API client has in flight at once (watches aside)."""
    assert load_config({}).request_slots == 32
    assert load_config({"WEBSTACK_REQUEST_SLOTS": "4"}).request_slots == 4
    with pytest.raises(ConfigError, match="WEBSTACK_REQUEST_SLOTS"):
        load_config({"WEBSTACK_REQUEST_SLOTS": "0"})


def test_the_frontend_comes_from_the_contract_unless_the_environment_names_a_folder(tmp_path: Path) -> None:
    """The override is read here, from the mapping the CLI passes, and handed to the contract as a path."""
    for name in ("index.html", "app.js", "styles.css", "nginx.conf.template"):
        (tmp_path / name).write_text(f"# {name}")
    default = load_settings({})
    assert 'set $webstack_backend "@BACKEND_URL@";' in default.frontend_nginx_template
    assert set(default.frontend_assets) == {"index.html", "app.js", "styles.css"}
    moved = load_settings({"WEBSTACK_FRONTEND_DIR": str(tmp_path)})
    assert moved.frontend_nginx_template == "# nginx.conf.template"
    assert moved.frontend_assets["app.js"] == "# app.js"


def test_the_cluster_domain_names_the_backend_and_the_dns_service_nginx_asks() -> None:
    """nginx's resolver knows no search domains: the backend's full name needs the cluster's domain, and the
    DNS Service's name follows it unless named itself."""
    default = load_settings({})
    assert (default.cluster_domain, default.cluster_dns) == (
        "cluster.local",
        "kube-dns.kube-system.svc.cluster.local",
    )
    other = load_settings({"WEBSTACK_CLUSTER_DOMAIN": "corp.internal"})
    assert other.cluster_dns == "kube-dns.kube-system.svc.corp.internal"
    named = load_settings({"WEBSTACK_CLUSTER_DNS": "10.100.0.10"})
    assert (named.cluster_domain, named.cluster_dns) == ("cluster.local", "10.100.0.10")
