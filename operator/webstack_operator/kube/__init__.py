"""A Kubernetes layer that knows nothing of WebStack: connection, client, writes, watches' plumbing, Lease.

Everything here would serve any operator: logging in as kubectl does, a throttle-aware async client,
server-side apply and the other writes (the one door to the cluster), aggregated discovery, managed fields
read as paths, Events that aggregate, leader election, quantities and YAML output.
"""
