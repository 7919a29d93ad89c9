"""How a test on the host reaches a Service of any cluster: the lab's host routes ClusterIPs (kube-proxy
runs in its network namespace), so its tests go the way a pod's traffic goes; on another cluster (kind,
EKS) the same tests go through the API server (port-forward). Pods: tests/support/operator.OperatorPod."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.operator import get_json

from kubelocal.target import KubeTarget

_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


@contextmanager
def service_url(cluster: KubeTarget, namespace: str, service: str) -> Iterator[str]:
    """An http:// URL for the Service's first port: its ClusterIP in the lab (through kube-proxy, as a pod
    would reach it), else a `kubectl port-forward` to it for as long as the block runs."""
    spec = get_json(cluster, "service", service, "-n", namespace)["spec"]
    port = spec["ports"][0]["port"]
    if cluster.local is not None:
        yield f"http://{spec['clusterIP']}:{port}"
        return
    argv = [str(cluster.kubectl_path), f"--kubeconfig={cluster.kubeconfig_path}", "-n", namespace]
    argv += ["port-forward", f"service/{service}", f":{port}"]
    forward = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline()
        found = _FORWARDING.search(first)
        if found is None:
            raise RuntimeError(f"kubectl port-forward service/{service}: {first.strip() or 'no output'}")
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        forward.terminate()
        forward.wait(10)
