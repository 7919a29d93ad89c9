"""`plan`: what applying a WebStack would do: pure verdicts, the dry-run questions, the view for people."""
