"""One idempotent reconcile of one WebStack (render, decide, apply, prune, observe, write status), standing on
every floor below the controller: pure rules (`decisions`, `credentials_rules`, `transitions`,
`migration_gate`, `rendering`) beside the code that acts on them (`reconciler`, `credentials_keeper`, `prune`,
`deletion`), `stack_status` (what a reconcile observed, turned into the status it writes), `findings` (what it
found waiting on the world) and `outcomes`, the contract with the controller above: retry, requeue.
"""
