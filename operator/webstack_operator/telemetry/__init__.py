"""The operator's own telemetry: Prometheus metric names and metrics, and JSON logs.

The ground floor: every other floor may count and log, so this one imports none of them.
"""
