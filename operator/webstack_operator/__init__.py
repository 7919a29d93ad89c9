"""The WebStack operator: one `WebStack` resource in, a whole production web stack out. Its subpackages are
floors, from the ground up: `telemetry` (metrics and logs), `kube` (a Kubernetes layer that knows nothing of
WebStack), `api` (the WebStack types, CRD and reference), `config` (the operator's settings), `objects` (what
a child object is: kinds, labels, stamps, ownership), `builders` (pure spec-to-manifest), `observe` (what the
watches and the cluster say), `status` (pure status computation), `reconcile` (one reconcile of one stack),
`controller` (queue, handlers, wiring), `manager` (the process) and `cli`; a floor imports only the floors
below it, and import-linter holds this in `make lint`.
"""
