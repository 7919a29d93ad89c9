# The two commands a new user needs: `make demo` (the whole system) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
KUBELOCAL := $(PY) -m kubelocal

.PHONY: help setup demo test test-unit lint bench cluster-binaries thirdparty-crds images cluster-up cluster-down crd docs clean

help:
	@echo "make demo    - the whole system on this machine (control plane, operator, users API, UI)"
	@echo "make test    - every test suite (unit, integration on real Postgres/Redis/Kubernetes, e2e)"
	@echo "make lint    - ruff, mypy --strict, import-linter (the floors), hadolint, actionlint, the Helm chart"
	@echo "make bench   - benchmarks (users API against the seed's Express stack under wrk, operator, failover)"
	@echo "make cluster-up / cluster-down - the local control plane by hand"
	@echo "make images  - the lab images (Debian base, users API, operator, Postgres/Redis/nginx/pause stand-ins)"

setup:
	@bash scripts/setup.sh

demo: setup
	@$(PY) scripts/demo.py

test: setup
	@bash scripts/test.sh

test-unit:
	@bash scripts/setup.sh python
	$(VENV)/bin/pytest tests/unit

lint:
	@bash scripts/setup.sh python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache .importlinter
	$(VENV)/bin/hadolint Dockerfile.webapp Dockerfile.operator
	$(VENV)/bin/actionlint -shellcheck $(VENV)/bin/shellcheck
	@# The chart: `helm lint --strict` in every ci/ variant and its render against kustomize's (needs Helm
	@# and kubectl from `make cluster-binaries`; CI=true turns their absence from a skip into a failure).
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/delivery/test_helm_chart.py

bench: setup
	$(PY) -m bench

cluster-binaries:
	@bash tools/go/build-cluster-binaries.sh

thirdparty-crds:
	@bash tools/go/fetch-thirdparty-crds.sh

images:
	@bash scripts/setup.sh images

cluster-up: setup
	@$(KUBELOCAL) up

cluster-down:
	@$(KUBELOCAL) down
	@$(KUBELOCAL) clean-real-node

crd:
	@bash scripts/setup.sh python
	$(VENV)/bin/webstack-operator crd > crds/webstack.dev_webstacks.yaml
	$(VENV)/bin/webstack-operator docs > docs/crd-reference.md
	$(VENV)/bin/webstack-operator dashboard > deploy/monitoring/grafana-dashboards/webstack-users-api.json
	$(VENV)/bin/webstack-operator operator-alerts > deploy/components/operator-monitoring/prometheusrule.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
