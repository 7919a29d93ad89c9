#!/usr/bin/env bash
# Regenerates go.mod: k8s.io/kubernetes publishes its staging modules at v0.0.0 with local replaces that do
# not apply to a dependent module, so every staging module needs its own replace at the matching v0.x.y.
set -euo pipefail
cd "$(dirname "$0")"
. ../versions.env
staging_version="v0.${KUBERNETES_VERSION#v1.}"
gomod=$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
{
  echo "module webstack.dev/tools/kubernetes"
  echo
  echo "go 1.26.0"
  echo
  echo "tool ("
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do echo "	k8s.io/kubernetes/cmd/$cmd"; done
  echo ")"
  echo
  echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
  echo
  echo "replace ("
  grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk -v v="$staging_version" '{printf "\t%s => %s %s\n", $1, $1, v}'
  echo ")"
} > go.mod
go mod tidy
