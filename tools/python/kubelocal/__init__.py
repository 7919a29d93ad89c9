"""A real Kubernetes control plane as local processes: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (simulated nodes), built from Go modules by tools/go/build-cluster-binaries.sh.

Docker is not available where this project is tested, so kind cannot run; this is envtest's approach plus
a controller manager, a scheduler and kwok, so Deployments, StatefulSets and garbage collection behave as
in a real cluster.
"""

from kubelocal.binaries import Binaries, BinariesMissing
from kubelocal.cluster import ClusterError, LocalCluster

__all__ = ["Binaries", "BinariesMissing", "ClusterError", "LocalCluster"]
