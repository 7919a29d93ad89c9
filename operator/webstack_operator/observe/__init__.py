"""What the cluster says: the children cache, the watches feeding it, workloads' dependents, prerequisites.

Also why a component is short of ready pods (`blockers`), in the words of the objects that know.
"""
