"""The process: `webstack-operator run` (logging, metrics, health, the Lease, then kopf while leading),
standing on `controller` and the floors below it.
"""
