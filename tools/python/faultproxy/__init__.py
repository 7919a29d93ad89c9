"""A fault-injecting proxy for the Kubernetes API, for tests that need an apiserver misbehaving on purpose.

    with FaultProxy(cluster.server_url, cluster.ca_path) as proxy:
        kubeconfig = proxy.kubeconfig(token, tmp_path / "proxy.kubeconfig")
        proxy.fail(503, method="PATCH", path="/apis/apps/v1/namespaces/shop/deployments", times=2)
        ...
        assert proxy.requests(method="PATCH", identity=identity_of(token))

It is a TLS HTTP/1.1 endpoint on 127.0.0.1 that forwards every request, headers included, and streams the
answers back chunk by chunk (watches stay live), except where a scripted fault says otherwise: an HTTP error
with a Status body, a reset connection, a stall, a watch cut mid-event, a watch answered 410 (as HTTP 410
or as an ERROR event), or the whole API unreachable for a while. Every request is logged, tokens hashed.

Python rather than toxiproxy: faults must be chosen by HTTP method and path, which a TCP proxy cannot see.

Limits: client certificates cannot pass (TLS ends here), so tests that authenticate with one go direct;
connection upgrades (exec, attach, port-forward) are not forwarded; "unreachable" accepts the TCP
connection and then resets it, rather than refusing the connect; the client side speaks HTTP/1.1 only.
"""

from faultproxy.faults import (
    WATCH_QUERY,
    Action,
    CutWatch,
    Fault,
    Faults,
    Match,
    Reset,
    Respond,
    Stall,
    Unreachable,
    WatchError,
)
from faultproxy.log import RequestRecord, identity_of
from faultproxy.proxy import FaultProxy

__all__ = [
    "WATCH_QUERY",
    "Action",
    "CutWatch",
    "Fault",
    "FaultProxy",
    "Faults",
    "Match",
    "RequestRecord",
    "Reset",
    "Respond",
    "Stall",
    "Unreachable",
    "WatchError",
    "identity_of",
]
