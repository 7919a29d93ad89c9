"""The controller: kopf handlers as glue, the per-stack work queue, and the wiring of watches to reconciles;
it stands on `reconcile` and the floors below it.
"""
