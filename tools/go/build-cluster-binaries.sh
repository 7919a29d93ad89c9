#!/usr/bin/env bash
# Builds the local control plane from Go modules into a cache outside the work tree, keyed by version.
# CI clones main afresh into another folder, so an in-repo cache would be empty every run. Skips what is
# already built; safe to run repeatedly. Never run from inside a test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
cache=${WEBSTACK_CACHE:-$HOME/.cache/webstack}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

step() { printf '==> %s\n' "$*"; }

build_kubernetes() {
  local out="$cache/kubernetes-$KUBERNETES_VERSION"
  # kubelet and kube-proxy: the lab's real node (tools/python/kubelocal/realnode), the same version as the
  # control plane; one `go build` shares the packages they have in common with it.
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
  local missing=0
  for b in "${bins[@]}"; do [ -x "$out/$b" ] || missing=1; done
  if [ "$missing" = 0 ]; then step "kubernetes $KUBERNETES_VERSION: cached in $out"; return; fi
  step "kubernetes $KUBERNETES_VERSION: building ${bins[*]} (a cold build takes tens of minutes)"
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$out.tmp"
  (cd "$here/kubernetes" && go build -trimpath -ldflags "$ld" -o "$out.tmp/" \
    $(printf 'k8s.io/kubernetes/cmd/%s ' "${bins[@]}"))
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_etcd() {
  local out="$cache/etcd-$ETCD_VERSION"
  if [ -x "$out/etcd" ]; then step "etcd $ETCD_VERSION: cached in $out"; return; fi
  step "etcd $ETCD_VERSION: building"
  mkdir -p "$out.tmp"
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_kwok() {
  local out="$cache/kwok-$KWOK_VERSION"
  if [ ! -x "$out/kwok" ]; then
    step "kwok $KWOK_VERSION: building"
    mkdir -p "$out.tmp"
    (cd "$here/kwok" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
    mkdir -p "$out" && mv "$out.tmp/kwok" "$out/kwok" && rm -rf "$out.tmp"
  else
    step "kwok $KWOK_VERSION: cached in $out"
  fi
  [ -f "$out/stages.yaml" ] || write_kwok_stages "$out/stages.yaml"
}

# Standalone kwok has no built-in stages. Take the module's own "fast" sets: nodes Ready with lease
# heartbeats, scheduled pods Running/Ready, and PVCs provisioned and bound (so a StatefulSet's pod can be
# scheduled). The volume stages only serve the class named kwok-volume; we let them serve every class, so
# samples that ask for gp3 bind too.
write_kwok_stages() {
  local moddir f
  moddir=$(cd "$here/kwok" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  : > "$1.tmp"
  for f in "$moddir"/kustomize/stage/node/fast/*.yaml "$moddir"/kustomize/stage/node/heartbeat-with-lease/*.yaml \
           "$moddir"/kustomize/stage/pod/fast/*.yaml "$moddir"/kustomize/stage/volume/fast/*.yaml; do
    case "$(basename "$f")" in kustomization.yaml|storage-class.yaml) continue ;; esac
    { echo "---"; sed "s/self.spec.storageClassName == 'kwok-volume'/has(self.spec.storageClassName)/" "$f"; } >> "$1.tmp"
  done
  mv "$1.tmp" "$1"
}

# The Argo Rollouts controller: a Rollout on the local control plane then behaves as on EKS (ReplicaSets,
# canary steps, pauses). Its version is the one whose CRDs tools/go/fetch-thirdparty-crds.sh installs.
build_rollouts() {
  . "$here/thirdparty-crds.env"
  local out="$cache/argo-rollouts-$ARGO_ROLLOUTS_VERSION"
  if [ -x "$out/rollouts-controller" ]; then step "argo-rollouts $ARGO_ROLLOUTS_VERSION: cached in $out"; return; fi
  step "argo-rollouts $ARGO_ROLLOUTS_VERSION: building rollouts-controller"
  mkdir -p "$out.tmp"
  (cd "$here/argo-rollouts" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/rollouts-controller" \
    github.com/argoproj/argo-rollouts/cmd/rollouts-controller)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# cyclonus's NetworkPolicy engine behind a JSON front end (tools/go/cyclonus/main.go): the connectivity test
# asks it, connection by connection, what the rendered policies allow. The front end is ours, so the cache
# also records its sources' checksum and is rebuilt when they change.
build_cyclonus() {
  build_own_front_end cyclonus github.com/mattfenwick/cyclonus "$CYCLONUS_VERSION" cyclonus-verdicts cyclonus
}

# A main package of ours (tools/go/<dir>/main.go) over a pinned module: the cache is keyed by the module's
# version and by our sources' checksum, and rebuilt when either changes; go.mod's pin must be versions.env's.
#   build_own_front_end <dir> <pinned module> <version> <binary> <name in the cache and messages>
build_own_front_end() {
  local dir=$1 module=$2 version=$3 binary=$4 name=$5
  local out="$cache/$name-$version"
  local sum; sum=$(cat "$here/$dir/main.go" "$here/$dir/go.mod" "$here/$dir/go.sum" | sha256sum | cut -c1-16)
  if [ -x "$out/$binary" ] && [ "$(cat "$out/.source-sum" 2>/dev/null)" = "$sum" ]; then
    step "$name ($module $version): cached in $out"; return
  fi
  step "$name ($module $version): building $binary"
  local pinned
  pinned=$(cd "$here/$dir" && go list -m -f '{{.Version}}' "$module")
  if [ "$pinned" != "$version" ]; then
    echo "tools/go/$dir/go.mod pins $module $pinned, versions.env says $version" >&2; return 1
  fi
  mkdir -p "$out.tmp"
  (cd "$here/$dir" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/$binary" .)
  echo "$sum" > "$out.tmp/.source-sum"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# Prometheus and promtool: the harness starts this Prometheus on loopback to load the rendered rules and
# scrape local processes; promtool checks and unit-tests the rendered PrometheusRules. Built without service
# discovery plugins (remove_all_sd keeps static and file SD: scrape targets are derived from rendered
# ServiceMonitors) and without the embedded web UI (that needs generated assets); the API is all we use.
build_prometheus() {
  local out="$cache/prometheus-$PROMETHEUS_VERSION"
  if [ -x "$out/prometheus" ] && [ -x "$out/promtool" ]; then
    step "prometheus $PROMETHEUS_VERSION: cached in $out"; return
  fi
  step "prometheus $PROMETHEUS_VERSION: building prometheus promtool"
  local ld="-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
  ld="$ld -X github.com/prometheus/common/version.Branch=HEAD -X github.com/prometheus/common/version.BuildDate=19700101-00:00:00"
  mkdir -p "$out.tmp"
  (cd "$here/prometheus" && go build -trimpath -tags remove_all_sd -ldflags "$ld" -o "$out.tmp/" \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# The real node's runtime: containerd v2 and its runc shim (Debian's runc runs the containers). Without
# btrfs (no headers needed, CGO off) — the node uses the overlayfs snapshotter.
build_containerd() {
  local out="$cache/containerd-$CONTAINERD_VERSION"
  if [ -x "$out/containerd" ] && [ -x "$out/containerd-shim-runc-v2" ] && [ -x "$out/ctr" ]; then
    step "containerd $CONTAINERD_VERSION: cached in $out"; return
  fi
  step "containerd $CONTAINERD_VERSION: building containerd containerd-shim-runc-v2 ctr"
  mkdir -p "$out.tmp"
  (cd "$here/containerd" && go build -trimpath -tags no_btrfs \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" -o "$out.tmp/" \
    $(printf 'github.com/containerd/containerd/v2/cmd/%s ' containerd containerd-shim-runc-v2 ctr))
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# Cluster DNS for the real node: CoreDNS with the plugins a cluster DNS uses (tools/go/coredns/main.go).
# The main package is ours, so the cache also records its sources' checksum, as for cyclonus.
build_coredns() {
  local out="$cache/coredns-$COREDNS_VERSION"
  local sum; sum=$(cat "$here/coredns/main.go" "$here/coredns/go.mod" "$here/coredns/go.sum" | sha256sum | cut -c1-16)
  if [ -x "$out/coredns" ] && [ "$(cat "$out/.source-sum" 2>/dev/null)" = "$sum" ]; then
    step "coredns $COREDNS_VERSION: cached in $out"; return
  fi
  step "coredns $COREDNS_VERSION: building"
  mkdir -p "$out.tmp"
  (cd "$here/coredns" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/coredns" .)
  echo "$sum" > "$out.tmp/.source-sum"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# PVCs on the real node bind to directories: Rancher's local-path provisioner, run beside the control plane.
build_local_path_provisioner() {
  local out="$cache/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION"
  if [ -x "$out/local-path-provisioner" ]; then step "local-path-provisioner $LOCAL_PATH_PROVISIONER_VERSION: cached in $out"; return; fi
  step "local-path-provisioner $LOCAL_PATH_PROVISIONER_VERSION: building"
  mkdir -p "$out.tmp"
  (cd "$here/local-path-provisioner" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/local-path-provisioner" \
    github.com/rancher/local-path-provisioner)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# Argo CD's Lua sandbox for resource customizations (tools/go/argocd-lua/main.go): the tests run
# deploy/argocd's health and action scripts in it. Keyed by the gopher-lua version Argo CD uses, and by
# the sources' checksum (the main package is ours), as for cyclonus.
build_argocd_lua() {
  build_own_front_end argocd-lua github.com/yuin/gopher-lua "$GOPHER_LUA_VERSION" argocd-lua argocd-lua
}

# Helm, for the chart: lint, template (compared with kustomize's render) and install on the lab cluster. And
# kustomize on its own, the version kubectl embeds (tools/go/kubernetes/go.mod), so that the chart's check
# in `make lint` needs neither kubectl nor the control plane (`build-cluster-binaries.sh helm` builds both).
build_helm() {
  local out="$cache/helm-$HELM_VERSION"
  if [ -x "$out/helm" ] && [ -x "$out/kustomize" ]; then step "helm $HELM_VERSION + kustomize: cached in $out"; return; fi
  step "helm $HELM_VERSION + kustomize: building"
  local pinned kustomize kubectls
  pinned=$(cd "$here/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
  if [ "$pinned" != "$HELM_VERSION" ]; then
    echo "tools/go/helm/go.mod pins helm $pinned, versions.env says $HELM_VERSION" >&2; return 1
  fi
  kustomize=$(awk '$1 == "sigs.k8s.io/kustomize/kustomize/v5" && $2 ~ /^v/ {print $2}' "$here/helm/go.mod")
  kubectls=$(awk '$1 == "sigs.k8s.io/kustomize/kustomize/v5" && $2 ~ /^v/ {print $2}' "$here/kubernetes/go.mod")
  if [ "$kustomize" != "$kubectls" ]; then
    echo "tools/go/helm/go.mod pins kustomize $kustomize, kubectl embeds $kubectls: make them equal" >&2; return 1
  fi
  local ld="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
  ld="$ld -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  mkdir -p "$out.tmp"
  (cd "$here/helm" && go build -trimpath -ldflags "$ld" -o "$out.tmp/helm" helm.sh/helm/v4/cmd/helm)
  (cd "$here/helm" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/kustomize" sigs.k8s.io/kustomize/kustomize/v5)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# NetworkPolicy enforcement on the real node: kube-router's firewall (network policy) controller alone,
# iptables + ipset (docs/architecture.md, "Network connectivity", says why this one). The other controllers
# (BGP routing, the IPVS proxy, its CNI) are built in but never started: kubelocal.realnode.firewall.
build_kube_router() {
  local out="$cache/kube-router-$KUBE_ROUTER_VERSION"
  if [ -x "$out/kube-router" ]; then step "kube-router $KUBE_ROUTER_VERSION: cached in $out"; return; fi
  step "kube-router $KUBE_ROUTER_VERSION: building"
  local pinned
  pinned=$(cd "$here/kube-router" && go list -m -f '{{.Version}}' github.com/cloudnativelabs/kube-router/v2)
  if [ "$pinned" != "$KUBE_ROUTER_VERSION" ]; then
    echo "tools/go/kube-router/go.mod pins kube-router $pinned, versions.env says $KUBE_ROUTER_VERSION" >&2; return 1
  fi
  mkdir -p "$out.tmp"
  (cd "$here/kube-router" && go build -trimpath \
    -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    -o "$out.tmp/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# Each build's wall time is kept beside its binaries: the harness's figures test prints the cold build time.
timed() {
  local dir=$1; shift
  local t0; t0=$(date +%s)
  local existed=0; [ -f "$dir/.build-seconds" ] && existed=1
  "$@"
  if [ "$existed" = 0 ] && [ -d "$dir" ]; then echo $(( $(date +%s) - t0 )) > "$dir/.build-seconds"; fi
}

start=$(date +%s)
. "$here/thirdparty-crds.env"
# `build-cluster-binaries.sh helm` builds that one (the lint job needs Helm and kustomize, not the cluster).
if [ $# -gt 0 ]; then
  for target in "$@"; do
    case "$target" in
      helm) timed "$cache/helm-$HELM_VERSION" build_helm ;;
      *) echo "unknown target $target (known: helm; no argument builds everything)" >&2; exit 2 ;;
    esac
  done
  exit 0
fi
timed "$cache/etcd-$ETCD_VERSION" build_etcd
timed "$cache/kwok-$KWOK_VERSION" build_kwok
timed "$cache/kubernetes-$KUBERNETES_VERSION" build_kubernetes
timed "$cache/argo-rollouts-$ARGO_ROLLOUTS_VERSION" build_rollouts
timed "$cache/cyclonus-$CYCLONUS_VERSION" build_cyclonus
timed "$cache/argocd-lua-$GOPHER_LUA_VERSION" build_argocd_lua
timed "$cache/prometheus-$PROMETHEUS_VERSION" build_prometheus
timed "$cache/containerd-$CONTAINERD_VERSION" build_containerd
timed "$cache/coredns-$COREDNS_VERSION" build_coredns
timed "$cache/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION" build_local_path_provisioner
timed "$cache/helm-$HELM_VERSION" build_helm
timed "$cache/kube-router-$KUBE_ROUTER_VERSION" build_kube_router
echo "cluster binaries ready in $cache ($(( $(date +%s) - start ))s)"
