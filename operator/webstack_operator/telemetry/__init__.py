"""The operator's own telemetry: Prometheus metric names and metrics, and JSON logs; the ground floor, since
every other floor may count and log, so it imports none of them (only the shared `webstack_contract`).
"""
