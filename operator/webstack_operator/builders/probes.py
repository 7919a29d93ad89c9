"""Container probes (an HTTP GET on a named port, or a command run in the container), and the drain before a
serving container is stopped."""

from webstack_operator.kube.jsondata import JSON


def http_probe(path: str, *, period: int, timeout: int = 2, failures: int = 3, port: str = "http") -> JSON:
    """An HTTP GET probe on a named port."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def exec_probe(command: list[str], *, period: int, timeout: int = 5, failures: int = 3) -> JSON:
    """A probe that runs a command in the container."""
    return {
        "exec": {"command": command},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


# Long enough for the EndpointSlice change of a deleted pod to reach kube-proxy on every node (and an ALB's
# target deregistration to start) before the server stops accepting: without it, clients of a pod being
# deleted saw connections refused, then timeouts to the gone address (9 failed requests in the lab).
DRAIN_SECONDS = 5


def drain_before_stop() -> JSON:
    """The kubelet's own sleep before the stop signal (no `sleep` binary needed in the image); the pod's
    grace period must cover it plus the server's graceful shutdown."""
    return {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
