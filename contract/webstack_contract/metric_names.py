"""Names of the users API's Prometheus metrics.

Kept apart, with no imports, in the shared contract, because the operator's builders (alerts, canary
analysis, dashboard) are built from these exact names: one definition, so an alert can never point at a
metric that does not exist, and neither program carries the other to share it.
"""

HTTP_REQUESTS_TOTAL = "users_api_http_requests_total"  # counter: method, route, status
HTTP_REQUEST_DURATION_SECONDS = "users_api_http_request_duration_seconds"  # histogram: method, route
CACHE_HITS_TOTAL = "users_api_cache_hits_total"  # counter: route, layer (local near cache or redis)
CACHE_MISSES_TOTAL = "users_api_cache_misses_total"  # counter: route
CACHE_ERRORS_TOTAL = "users_api_cache_errors_total"  # counter: operation
CACHE_BYPASS_TOTAL = "users_api_cache_bypass_total"  # counter: route (circuit open or cache disabled)
NEAR_CACHE_ENTRIES = "users_api_near_cache_entries"  # gauge: entries in this replica's near cache
NEAR_CACHE_BYTES = "users_api_near_cache_bytes"  # gauge: their estimated size
NEAR_CACHE_ACTIVE = "users_api_near_cache_active"  # gauge: 1 while invalidations are heard, else 0
NEAR_CACHE_INVALIDATIONS_TOTAL = "users_api_near_cache_invalidations_total"  # counter: reason
DB_POOL_SIZE = "users_api_db_pool_size"  # gauge: connections in the pool
DB_POOL_IDLE = "users_api_db_pool_idle"  # gauge: idle connections
DB_UNAVAILABLE_TOTAL = "users_api_db_unavailable_total"  # counter: operation (Postgres unreachable)

# Label names, shared by the exporter and every PromQL expression built from it.
LABEL_METHOD = "method"
LABEL_ROUTE = "route"
LABEL_STATUS = "status"
LABEL_OPERATION = "operation"  # a repository operation (list_users, ping, ...)
LABEL_LAYER = "layer"  # which cache answered a hit: LAYER_LOCAL (this replica's memory) or LAYER_REDIS
LAYER_LOCAL = "local"
LAYER_REDIS = "redis"
