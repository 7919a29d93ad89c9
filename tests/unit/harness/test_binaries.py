"""Where tests find Prometheus, Helm and kustomize: the version-keyed cache, never a build of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelocal.binaries import BinariesMissing, PrometheusBinaries, helm, kustomize, read_versions


def test_prometheus_is_found_in_the_version_keyed_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path))
    version = read_versions()["PROMETHEUS_VERSION"]
    with pytest.raises(BinariesMissing, match=r"prometheus.*run `make cluster-binaries`"):
        PrometheusBinaries.locate()
    folder = tmp_path / f"prometheus-{version}"
    folder.mkdir()
    for name in ("prometheus", "promtool"):
        (folder / name).write_text("")
    found = PrometheusBinaries.locate()
    assert (found.version, found.prometheus, found.promtool) == (
        version,
        folder / "prometheus",
        folder / "promtool",
    )


def test_the_pinned_module_is_the_pinned_release() -> None:
    """versions.env names the release (v3.x); tools/go/prometheus/go.mod pins its module (v0.3xx.y)."""
    major, minor, patch = read_versions()["PROMETHEUS_VERSION"].removeprefix("v").split(".")
    go_mod = (Path(__file__).resolve().parents[3] / "tools" / "go" / "prometheus" / "go.mod").read_text()
    assert f"github.com/prometheus/prometheus v0.{major}{int(minor):02d}.{patch}" in go_mod


def test_helm_and_kustomize_are_found_beside_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path))
    version = read_versions()["HELM_VERSION"]
    for find in (helm, kustomize):
        with pytest.raises(BinariesMissing, match=r"not built.*build-cluster-binaries.sh helm"):
            find()
    folder = tmp_path / f"helm-{version}"
    folder.mkdir()
    for name in ("helm", "kustomize"):
        (folder / name).write_text("")
    assert (helm(), kustomize()) == (folder / "helm", folder / "kustomize")
