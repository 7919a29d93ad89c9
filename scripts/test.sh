#!/usr/bin/env bash
# `make test`: every suite on parallel workers, then the search of every log they wrote.
#
# Most of the suite waits on a control plane, an operator's backoff or a pod (one worker keeps 2 cores
# about 30% busy), so two workers (pytest-xdist) nearly halve the wall time. Each worker is a pytest
# session with its own local control plane; tests/conftest.py keeps each file's tests on one worker, and
# the real-node suites together (the machine has one real node). tests/zz_final must see every other
# test's logs, so it runs afterwards, on the same WEBSTACK_LEAK_DIR and the workers' temp dirs, with the
# files whose tests xdist cannot tell apart (below).
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
# The workers' temp dirs (a demo's log, a browser's, any file a test wrote) go where pytest's own do, which
# CI keeps on failure; removed only after a run that passed. The final search reads them too.
mkdir -p "/tmp/pytest-of-$(id -un)" && chmod 700 "/tmp/pytest-of-$(id -un)"
parallel=$(mktemp -d "/tmp/pytest-of-$(id -un)/webstack-parallel-XXXXXX")
export WEBSTACK_LEAK_DIR=$leak_dir WEBSTACK_EARLIER_RUNS=$parallel  # kubelocal.leaks
trap 'rm -rf "$leak_dir"' EXIT

ignore=(--ignore "$final")
for f in "${serial[@]}"; do ignore+=(--ignore "$f"); done
rc=0
.venv/bin/pytest -n "$workers" --dist loadfile --basetemp "$parallel" "${ignore[@]}" "$@" || rc=$?
case $rc in
  0 | 1) ;;  # passed, or some tests failed: the serial part and the search still run
  # interrupted (Ctrl-C reaches pytest too), an internal or a usage error: nothing more starts
  *) echo "[test] the parallel part stopped (pytest exit $rc): nothing more runs" >&2; exit "$rc" ;;
esac
src=0
.venv/bin/pytest "${serial[@]}" "$final" || src=$?
echo "[test] parallel part: exit $rc; serial part (contract tests, the final log search): exit $src"
if [ "$rc" = 0 ] && [ "$src" = 0 ]; then rm -rf "$parallel"; exit 0; fi
echo "[test] the workers' temp dirs are kept in $parallel" >&2
exit $(( rc > src ? rc : src ))
