"""Pure builders: one WebStack (as a StackContext) in, every Kubernetes object of its stack out, the same
objects in the same order for the same context (no I/O, no clock, no random number, no global), so what
`webstack-operator render` prints offline is what the operator applies; they stand on `objects`, `config`,
`api` and `telemetry`'s names, never on a client or kopf.
"""
