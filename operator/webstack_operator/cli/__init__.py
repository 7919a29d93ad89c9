"""The command line: `webstack-operator` and the kubectl plugin `kubectl webstack` (plan, status)."""
