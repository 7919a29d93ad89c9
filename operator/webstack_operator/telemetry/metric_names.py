"""Names of the operator's own Prometheus metrics, as exposed (a counter's with `_total`).

Kept apart, with no imports, for the same reason as `webstack_contract.metric_names`: the operator's alerts
and the dashboard's operator row are built from these exact names, so neither can point at a metric that
does not exist.
"""

RECONCILE_TOTAL = "webstack_reconcile_total"  # counter: result
RECONCILE_EXCEPTIONS_TOTAL = "webstack_reconcile_exceptions_total"  # counter
RECONCILE_DURATION_SECONDS = "webstack_reconcile_duration_seconds"  # histogram
LAST_RECONCILE_TIMESTAMP_SECONDS = "webstack_last_reconcile_timestamp_seconds"  # gauge
STACKS = "webstack_stacks"  # gauge: phase
DRIFT_CORRECTIONS_TOTAL = "webstack_drift_corrections_total"  # counter: kind
API_ERRORS_TOTAL = "webstack_api_errors_total"  # counter: status
API_REQUESTS_TOTAL = "webstack_api_requests_total"  # counter: method
OBJECT_WRITES_TOTAL = "webstack_object_writes_total"  # counter: action, kind
CACHED_CHILDREN = "webstack_cached_children"  # gauge
CACHE_STACKS = "webstack_cache_stacks"  # gauge
LEADER = "webstack_leader"  # gauge: 1 on the replica holding the Lease
QUEUE_DEPTH = "webstack_queue_depth"  # gauge
# The last restore drill of each stack (labels stack_namespace, stack: Prometheus gives every target its own
# `namespace`, the operator's), from its status.backup.lastDrill.
DRILL_SUCCESS = "webstack_backup_drill_success"  # gauge: 1 passed, 0 failed
DRILL_TIMESTAMP_SECONDS = "webstack_backup_drill_timestamp_seconds"  # gauge: when it ended
DRILL_PERIOD_SECONDS = "webstack_backup_drill_period_seconds"  # gauge: spec.backup.drill.period
DRILL_RPO_SECONDS = "webstack_backup_drill_rpo_seconds"  # gauge: age of the restored data
DRILL_RTO_SECONDS = "webstack_backup_drill_rto_seconds"  # gauge: start to a database answering the checks
LABEL_STACK_NAMESPACE = "stack_namespace"
LABEL_STACK = "stack"
CREDENTIALS_ROTATIONS_TOTAL = "webstack_credentials_rotations_total"  # counter: result

LABEL_RESULT = "result"
LABEL_PHASE = "phase"
LABEL_KIND = "kind"
RESULT_ERROR = "error"
PHASE_FAILED = "Failed"

# The job label Prometheus gives the operator's targets: the name of its metrics Service (deploy/operator),
# which its ServiceMonitor selects. The operator's alerts and the dashboard's operator row select it.
OPERATOR_JOB = "webstack-operator-metrics"
