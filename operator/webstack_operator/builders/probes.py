"""Container probes: an HTTP GET on a named port, or a command run in the container."""

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
