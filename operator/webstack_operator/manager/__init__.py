"""The process: `webstack-operator run` (logging, metrics, health, the Lease, then kopf while leading)."""
