#!/usr/bin/env bash
# The Argo Rollouts controller, so a Rollout really creates ReplicaSets and steps through its canary on the
# local control plane. Its go.mod pins k8s.io/kubernetes with replace lines that do not apply to a
# dependent module, so they are copied here (as for tools/go/kubernetes).
set -euo pipefail
cd "$(dirname "$0")"
. ../thirdparty-crds.env
gomod=$(go mod download -json "github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
{
  printf 'module webstack.dev/tools/argo-rollouts\n\ngo 1.26.1\n\ntool github.com/argoproj/argo-rollouts/cmd/rollouts-controller\n\n'
  printf 'require github.com/argoproj/argo-rollouts %s\n\n' "$ARGO_ROLLOUTS_VERSION"
  sed -n '/^replace (/,/^)/p' "$gomod"
} > go.mod
go mod tidy
