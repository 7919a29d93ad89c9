"""One idempotent reconcile of one WebStack: render, decide, apply, prune, observe, write status.

Pure rules (`decisions`, `credentials_rules`, `transitions`, `migration_gate`, `rendering`) sit beside the
code that acts on them (`reconciler`, `credentials_keeper`, `prune`, `deletion`); `outcomes` is the
contract with the controller above: retry, requeue.
"""
