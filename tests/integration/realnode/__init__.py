"""The real-node suites: a package, so the fixtures of its conftest.py scoped "package" end with it (in a
directory without this file they would live as long as the session, and an operator installed here
would go on reconciling every later test's stacks)."""
