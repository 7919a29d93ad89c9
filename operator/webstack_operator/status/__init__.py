"""Pure status computation: what the children say, turned into a WebStack's status and conditions.

`compute.compute_status` composes the parts, each a module: `observed` (what status reads), `readiness` (how
far one workload is), `components` (the four components' conditions and blockers), `conditions` (how a
condition is stamped, and those that read one finding each), `canary` and `backups` (their verdicts and
conditions), `phase` (`Ready`, the phase and the blocker line). No I/O and no clock: the caller passes both.
"""
