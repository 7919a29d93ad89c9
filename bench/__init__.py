"""Benchmarks, run by `make bench` (`python -m bench`). Not tests: they measure and record, they do not judge.

The process starters live in tools/python/localservices/ (shared with the tests and the demo): the dev-only
`webstack-harness` distribution, installed editable in .venv by `scripts/setup.sh python`.
"""
