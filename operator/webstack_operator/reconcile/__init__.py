"""One idempotent reconcile of one WebStack: render, decide, apply, prune, observe, write status.

Pure rules (`decisions`, `credentials_rules`, `transitions`, `migration_gate`, `rendering`) sit beside the
code that acts on them (`reconciler`, `credentials_keeper`, `prune`, `deletion`); `stack_status` turns what
a reconcile observed into the status it writes, `findings` is what it found waiting on the world, and
`outcomes` is the contract with the controller above: retry, requeue.
"""
