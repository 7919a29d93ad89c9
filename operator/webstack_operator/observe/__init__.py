"""What the cluster says: the children cache, the watches feeding it, workloads' dependents, the prerequisites
a spec names, and why a component is short of ready pods (`blockers`, in the words of the objects that know);
it stands on `objects`, `config`, `api`, `kube` and `telemetry`, and acts on nothing.
"""
