"""The cluster objects the real node's host components need: cluster DNS's Service, the API's endpoint for
pods, the storage class and the local-path provisioner's settings, and least-privilege RBAC (no I/O).

CoreDNS, the provisioner and kube-router run as host processes beside the control plane, each with a
client certificate of its own, bound here to the ClusterRoles their upstream manifests give them (for
kube-router, only what its network policy controller reads).
"""

from __future__ import annotations

import json

from kubelocal.realnode.layout import (
    APISERVER_PORT_ON_NODE,
    CLUSTER_DNS_IP,
    JSON,
    NODE_IP,
    PROVISIONER_NAMESPACE,
    STORAGE_CLASS,
    NodeLayout,
)

COREDNS_USER = "system:webstack-lab:coredns"
PROVISIONER_USER = "system:webstack-lab:local-path-provisioner"
KUBE_ROUTER_USER = "system:webstack-lab:kube-router"
PROVISIONER_NAME = "rancher.io/local-path"
APISERVER_KUBELET_USER = "kube-apiserver-kubelet-client"
PROVISIONER_CONFIGMAP = "local-path-config"
PROVISIONER_SERVICE_ACCOUNT = "local-path-provisioner"
_MANAGER = "kubelocal.webstack.dev"
_ALL = ["get", "list", "watch", "create", "update", "patch", "delete"]


def _user(name: str) -> JSON:
    """A client certificate's user (its CN) as an RBAC subject."""
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def _cluster_role(name: str, rules: list[JSON], user: str) -> list[JSON]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [_user(user)],
        },
    ]


def cluster_dns() -> list[JSON]:
    """kube-system/kube-dns at the address the kubelet gives pods, its endpoint the node address where
    CoreDNS listens: kube-proxy carries pods' queries there, as it would to a CoreDNS pod."""
    ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "clusterIP": CLUSTER_DNS_IP,
            "ports": [{"name": n, "port": 53, "targetPort": 53, "protocol": p} for n, p in ports],
        },
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-host",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": _MANAGER,
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
        "ports": [{"name": n, "port": 53, "protocol": p} for n, p in ports],
    }
    rules = [
        {
            "apiGroups": [""],
            "resources": ["endpoints", "services", "pods", "namespaces"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    return [service, endpoints, *_cluster_role("webstack-lab:coredns", rules, COREDNS_USER)]


def network_policy_controller() -> list[JSON]:
    """kube-router's firewall reads, never writes: its node (by name, for the node's addresses), and
    watches pods, namespaces and NetworkPolicies; its shared informer factory also lists Services,
    Endpoints, EndpointSlices and Nodes at start, whichever controllers run. Upstream's ClusterRole also
    lets it patch nodes and write leases, events and endpoints for the router and proxy, which stay off."""
    rules = [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": [""],
            "resources": ["pods", "namespaces", "services", "endpoints"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
    ]
    return _cluster_role("webstack-lab:kube-router", rules, KUBE_ROUTER_USER)


def apiserver_endpoints() -> JSON:
    """default/kubernetes's endpoint: the relay on the node address that carries pods' API connections to the
    loopback apiserver. The apiserver's own endpoint reconciler is off (it refuses a loopback advertise
    address) and the Service has no selector, so nothing else writes this slice. The port keeps the
    Service's port name, `https`, which is how kube-proxy pairs them."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes-host",
            "namespace": "default",
            "labels": {
                "kubernetes.io/service-name": "kubernetes",
                "endpointslice.kubernetes.io/managed-by": _MANAGER,
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": APISERVER_PORT_ON_NODE, "protocol": "TCP"}],
    }


_SETUP = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n'
_TEARDOWN = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n'


def helper_pod(image: str) -> JSON:
    """The pod that makes and removes a volume's directory on the node (the provisioner adds its node,
    tolerations, volumes and command)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "helper-pod"},
        "spec": {"containers": [{"name": "helper-pod", "image": image, "imagePullPolicy": "Never"}]},
    }


def provisioner_config(layout: NodeLayout) -> JSON:
    """Every node keeps its volumes in one directory under the node's root (removed with the cluster)."""
    return {
        "nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [str(layout.volumes_dir)]}]
    }


def storage(layout: NodeLayout) -> list[JSON]:
    """The `local-path` StorageClass and the provisioner's namespace, ServiceAccount (its helper pods run
    as it), settings and RBAC. WaitForFirstConsumer: the directory is made on the node the pod lands on."""
    ns = PROVISIONER_NAMESPACE
    read = ["get", "list", "watch"]
    # As upstream's manifest (v0.0.30): read across the cluster, write only volumes and events; its
    # helper pods are written in its own namespace alone (the Role below).
    rules = [
        {
            "apiGroups": [""],
            "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
            "verbs": read,
        },
        {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": _ALL},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read},
    ]
    helper_pods = "webstack-lab:local-path-provisioner-helper-pods"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": helper_pods, "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": _ALL}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": helper_pods, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": helper_pods},
        "subjects": [_user(PROVISIONER_USER)],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": PROVISIONER_SERVICE_ACCOUNT, "namespace": ns},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": PROVISIONER_CONFIGMAP, "namespace": ns},
            "data": {
                "config.json": json.dumps(provisioner_config(layout)),
                "setup": _SETUP,
                "teardown": _TEARDOWN,
                "helperPod.yaml": json.dumps(helper_pod(layout.helper_image)),
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": PROVISIONER_NAME,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
        *_cluster_role("webstack-lab:local-path-provisioner", rules, PROVISIONER_USER),
        role,
        binding,
    ]


def kubelet_api_access() -> list[JSON]:
    """The apiserver reaches kubelets (logs, exec, port-forward) as this user, with the built-in role made
    for it rather than as a cluster admin."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "webstack-lab:apiserver-kubelet-client"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:kubelet-api-admin",
            },
            "subjects": [_user(APISERVER_KUBELET_USER)],
        }
    ]
