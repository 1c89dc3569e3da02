# Mandate: `make run` serves the demo bank, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fuzz ha-test bench install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 12) else "Mandate needs Python 3.11 or 3.12 (oso has no wheels for %d.%d)" % v)'
	@echo "Creating $(VENV) and installing Mandate with its development tools (about a minute, once)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "Installed into $(VENV)."

install: $(STAMP)

run: $(STAMP)
	@echo "Migrating the database and seeding the demo bank..."
	$(BIN)/mandate db upgrade
	$(BIN)/mandate seed-demo
	$(BIN)/mandate serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache  # the layers' import contracts (.importlinter): the code's map
	$(BIN)/mypy  # typing: kept clean (see pyproject [tool.mypy])

test: lint
	$(BIN)/mandate policy test
	$(BIN)/pytest

# Hostile input and faults on their own (`make test` runs them too): schemathesis over every
# operation, and, with MANDATE_TEST_DATABASE_URL set, the crash and database-outage tests.
fuzz: $(STAMP)
	$(BIN)/pytest tests/api/test_fuzz.py tests/api/test_fuzz_regressions.py tests/faults

# Failover on a real cluster (`make test` runs it too, where the tools are there): etcd and two
# PostgreSQL 15 servers under Patroni on loopback ports, a load of transfers, the primary's
# postmaster SIGKILLed. Installs Debian's patroni and etcd-server when missing; prints the
# time from the kill to the first transfer acknowledged after it.
ha-test: $(STAMP)
	@command -v patroni >/dev/null && command -v etcd >/dev/null || { \
	    echo "Installing Debian's patroni and etcd-server for the failover test..."; \
	    sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patroni etcd-server >/dev/null; }
	MANDATE_HA_REQUIRED=1 $(BIN)/pytest -s tests/ha

# Benchmarks (scripts, not tests): decision latency, HTTP transfers against a raw-SQL baseline
# on PostgreSQL, replaying 100,000 logged decisions, statement paging over a million entries.
# Writes var/bench-report.txt.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis
