"""`status` for people: the one thing that keeps a stack from Ready, then the rest."""
