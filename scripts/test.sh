#!/usr/bin/env bash
# `make test`: every suite on parallel workers, then the search of every log they wrote.
#
# Most of the suite waits on a control plane, an operator's backoff or a pod (one worker keeps 2 cores
# about 30% busy), so two workers (pytest-xdist) nearly halve the wall time. Each worker is a pytest
# session with its own local control plane; tests/conftest.py keeps each file's tests on one worker, and
# the real-node suites together (the machine has one real node). tests/zz_final must see every other
# test's logs, so it runs afterwards, on the same WEBSTACK_LEAK_DIR and the workers' temp dirs.
# WEBSTACK_TEST_WORKERS=1 runs it all in one process (the final search last), as plain `pytest` does; that
# is the default against an existing cluster (WEBSTACK_KUBECONFIG, kubelocal.target), which workers would
# share: the suites assume a cluster of their own (CRDs, cluster roles, the operator's lease).
set -euo pipefail
cd "$(dirname "$0")/.."
workers=2
if [ -n "${WEBSTACK_KUBECONFIG:-}" ] || [ "${WEBSTACK_USE_KUBECONFIG:-}" = 1 ]; then workers=1; fi
workers=${WEBSTACK_TEST_WORKERS:-$workers}
final=tests/zz_final
# Run in the final, serial part: files whose tests share one node id (schemathesis names each operation's
# test after the function), which xdist's file scheduling, keyed by node id, would run only one of.
serial=(tests/integration/users_api/test_users_api_contract.py)

if [ "$workers" -le 1 ]; then exec .venv/bin/pytest "$@"; fi

leak_dir=$(mktemp -d -t webstack-leaks-XXXXXX)
trap 'rm -rf "$leak_dir"' EXIT
export WEBSTACK_LEAK_DIR=$leak_dir
runs=$leak_dir/pytest-runs  # kubelocal.leaks.RUNS_DIR
mkdir "$runs"
rc=0
ignore=(--ignore "$final")
for f in "${serial[@]}"; do ignore+=(--ignore "$f"); done
.venv/bin/pytest -n "$workers" --dist loadfile --basetemp "$runs/parallel" "${ignore[@]}" "$@" || rc=$?
if [ ! -d "$runs/parallel" ]; then echo "[test] the parallel run left no temp dir to search" >&2; exit 1; fi
.venv/bin/pytest "${serial[@]}" "$final" || rc=$?
exit "$rc"
