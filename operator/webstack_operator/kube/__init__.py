"""A Kubernetes layer that would serve any operator: logging in as kubectl does, a throttle-aware async
client, server-side apply and the other writes (the one door to the cluster), aggregated discovery, managed
fields read as paths, Events that aggregate, leader election on a Lease, quantities and YAML output. The
operator's identity (its field manager and user agent) is handed in by whoever makes a client; the layer
stands on telemetry alone and never imports the operator's API, objects or settings.
"""
