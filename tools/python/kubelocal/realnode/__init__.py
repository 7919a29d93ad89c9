"""One real node beside the kwok nodes: containerd, runc, a kubelet and kube-proxy, a bridge CNI, cluster DNS
and a local-path provisioner, so pods run in real containers (docs/architecture.md, "The lab").

`layout` renders every configuration file (pure); `host` holds what touches the machine beyond processes
(the node address, mounts, leftover shims, the lock); `node` starts and stops the components in order.
"""
