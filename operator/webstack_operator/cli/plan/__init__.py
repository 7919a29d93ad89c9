"""`plan`: what applying a WebStack would do: pure per-object actions, the dry-run questions, the view."""
