"""Pure status computation, standing on `observe`, `builders`, `objects`, `config`, `api` and `kube`'s data
types (no client, no I/O, no clock: the caller passes both): what the children say, turned into a WebStack's
status and conditions by `compute.compute_status`, which composes `observed` (what status reads), `readiness`
(how far one workload is), `components` (the four components' conditions and blockers), `conditions` (how a
condition is stamped, and those that read one finding each), `canary` and `backups` (their verdicts and
conditions) and `phase` (`Ready`, the phase and the blocker line).
"""
