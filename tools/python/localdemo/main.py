"""`make demo`: the whole system on one machine, then a clean exit.

A local control plane with kwok nodes and, where this machine can run containers (root, the real node's
binaries and the lab images built: kubelocal.realnode.preflight), a real node. With the real node, the
operator is installed in the cluster from its image and the demo stack runs on real pods
(localdemo.real_pods); without it (one line says why), kwok pods run no containers and the workload runs
beside the cluster, wired from what the operator rendered (localdemo.beside). Either way: the demo WebStack
brought to Ready with a live view, the UI and API through nginx, a local Prometheus on the live
ServiceMonitors' targets evaluating the live PrometheusRules, and light traffic for the dashboard.
`kill -USR1 <demo pid>` stops Postgres (the alerts fire), `kill -USR2 <demo pid>` starts it again.

Runs until Ctrl-C, or DEMO_EXIT_AFTER seconds. Every process it starts is stopped on the way out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubelocal import LocalCluster, leaks
from kubelocal.realnode.layout import NODE_NAME
from kubelocal.target import OPERATOR_CRD_PROJECTS, KubeTarget
from localdemo import beside, lab_stack, operator_install, real_pods
from localdemo.progress import curl_twice, say, step, watch_until_ready
from localdemo.serving import PostgresSwitch, Serving
from localservices.passwords import webstack_passwords
from webstack_operator.api.files import load_documents

NAMESPACE = "webstack-demo"  # the sample's


def toggle_postgres(serving: Serving, wanted: list[bool]) -> bool:
    """Stops or starts Postgres as the last SIGUSR1 / SIGUSR2 asked; True when it did either."""
    pg: PostgresSwitch = serving.postgres
    stopping, starting = serving.postgres_titles
    if pg.running() and not wanted[0]:
        step(stopping, pg.stop)
    elif wanted[0] and not pg.running():
        step(starting, pg.start)
    else:
        return False
    return True


def start_cluster(cluster: LocalCluster) -> KubeTarget:
    step(
        "starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) "
        "and, where this machine can run containers, a real node",
        cluster.start,
    )
    if cluster.real_node is not None:
        say(f"  real node {NODE_NAME} Ready (containerd, runc, kubelet, kube-proxy): the stack on real pods")
    else:
        say(f"  no real node: {cluster.real_node_reason}; kwok pods, the workload runs beside the cluster")
    target = KubeTarget(cluster.kubeconfig_path, local=cluster)
    say(f"  export KUBECONFIG={cluster.kubeconfig_path}")
    crds = step(
        "installing the third-party CRDs (Argo Rollouts, Prometheus Operator, Velero, ...)",
        lambda: target.install_thirdparty_crds(*OPERATOR_CRD_PROJECTS),
    )
    say(f"  {len(crds)} CRDs established")
    for ns in ("velero", "monitoring"):
        target.kubectl("create", "namespace", ns, check=False)
    if cluster.start_argo_rollouts():
        say("  Argo Rollouts controller started")
    else:
        say("  Argo Rollouts controller not built: the operator will fall back to a Deployment")
    return target


def the_stack(target: KubeTarget, on_real_pods: bool) -> dict[str, Any]:
    """The sample, with the lab's images and placement on real pods; its namespace created."""
    if on_real_pods:
        doc = lab_stack.lab_sample(NAMESPACE)
        target.apply(lab_stack.lab_namespace(NAMESPACE))
    else:
        [doc] = load_documents(str(lab_stack.SAMPLE))
        target.kubectl("create", "namespace", NAMESPACE, check=False)
    return doc


def bring_up(cluster: LocalCluster, workdir: Path, started: list[Any]) -> tuple[str, Serving]:
    """Everything up to serving: the control plane, the operator, the stack Ready, its workload."""
    target = start_cluster(cluster)
    on_real_pods = cluster.real_node is not None
    if on_real_pods:
        real_pods.install_operator(target)
    else:
        operator = beside.start_operator(target, workdir, started)
    doc = the_stack(target, on_real_pods)
    name = doc["metadata"]["name"]
    if on_real_pods:
        started.append(real_pods.KeepLogs(target, (NAMESPACE, operator_install.NAMESPACE)))
    sample = lab_stack.SAMPLE.relative_to(lab_stack.ROOT)
    applied_at, applied = datetime.now(UTC), time.monotonic()
    step(
        f"applying {sample}" + (" (the lab's images, placed on the real node)" if on_real_pods else ""),
        lambda: target.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(doc)),
    )
    step(
        "waiting for the operator to bring every component up",
        lambda: watch_until_ready(target, NAMESPACE, name),
    )
    ready_after = time.monotonic() - applied
    print(target.kubectl("get", "ws", "-n", NAMESPACE).stdout, flush=True)
    kinds = (
        "all,configmaps,secrets,ingresses,networkpolicies,poddisruptionbudgets,"
        "servicemonitors,prometheusrules,serviceaccounts"
    )
    instance = f"app.kubernetes.io/instance={name}"
    print(target.kubectl("get", kinds, "-n", NAMESPACE, "-l", instance).stdout, flush=True)
    # The backup Schedule lives in Velero's namespace.
    print(target.kubectl("get", "schedules.velero.io", "-n", "velero", "-l", instance).stdout, flush=True)
    if on_real_pods:
        serving = real_pods.serve(target, NAMESPACE, name, applied_at, (applied, ready_after), started)
    else:
        serving = beside.serve(target, NAMESPACE, name, operator, started)
        curl_twice(f"{serving.ui}/api/users?limit=5")
    return name, serving


def main() -> int:
    exit_after = float(os.environ.get("DEMO_EXIT_AFTER", "0") or 0)
    stop = threading.Event()
    serving_now = threading.Event()

    def interrupt(*_: object) -> None:
        # While starting up, unwind at once (the finally below stops what started); while serving, stop.
        if stop.is_set() or not serving_now.is_set():
            raise SystemExit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    # SIGUSR1 / SIGUSR2: Postgres down / up again, acted on by the main loop (not inside the handler).
    postgres_wanted: list[bool] = [True]
    signal.signal(signal.SIGUSR1, lambda *_: postgres_wanted.__setitem__(0, False))
    signal.signal(signal.SIGUSR2, lambda *_: postgres_wanted.__setitem__(0, True))
    workdir = Path(tempfile.mkdtemp(prefix="webstack-demo-"))
    # With WEBSTACK_LEAK_DIR set (the e2e test), the cluster's generated passwords are noted before it
    # stops, for the search of every log the demo wrote (kubelocal.leaks).
    leaks.HARVESTERS.append(webstack_passwords)
    started: list[Any] = []
    cluster = LocalCluster(nodes=2, with_real_node=None)
    try:
        started.append(cluster)
        name, serving = bring_up(cluster, workdir, started)
        say(f"UI:      {serving.ui}/")
        say(f"API:     {serving.ui}/api/users")
        say(f"metrics: operator {serving.operator_metrics}   users API {serving.apis[0]}/metrics")
        say(f"Prometheus: {serving.prometheus}  (its /targets and /alerts pages show what it sees)")
        say(f"  kill -USR1 {os.getpid()} stops Postgres, so alerts fire; kill -USR2 {os.getpid()} starts it")
        state: dict[str, Any] = {
            "mode": "real-pods" if cluster.real_node is not None else "kwok",
            "url": serving.ui,
            "api": serving.api,
            "kubeconfig": str(cluster.kubeconfig_path),
            "namespace": NAMESPACE,
            "name": name,
            "apis": serving.apis,
            "operator_metrics": serving.operator_metrics,
            "prometheus": serving.prometheus,
        }
        state_file = os.environ.get("DEMO_STATE_FILE")
        steady_pids = [*cluster.pids(), *serving.pids]

        def write_state() -> None:
            pg = serving.postgres
            state.update(postgres_running=pg.running(), pids=[*steady_pids, *([pg.pid] if pg.pid else [])])
            if state_file:
                Path(state_file).write_text(json.dumps(state))

        write_state()
        print(f"DEMO_READY {json.dumps(state)}", flush=True)
        say("running; Ctrl-C to stop" + (f" (exits by itself after {exit_after:.0f}s)" if exit_after else ""))
        deadline = time.monotonic() + exit_after if exit_after else None
        serving_now.set()
        while not stop.wait(0.5):
            if deadline and time.monotonic() >= deadline:
                break
            if toggle_postgres(serving, postgres_wanted):
                write_state()
        return 0
    finally:
        say("stopping everything the demo started")
        for thing in reversed(started):
            # One that fails to stop (the API gone while the pods' logs are kept) stops nothing else.
            try:
                thing.stop()
            except Exception as e:
                say(f"  stopping {type(thing).__name__} failed: {e}")
            finally:
                cleanup = getattr(thing, "cleanup", None)
                if cleanup:
                    cleanup()
        if cluster.components:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        say("stopped")
