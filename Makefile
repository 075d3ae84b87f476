# The two commands: `make run` (the whole stack locally) and `make test` (every test). Both install what
# they need into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-reliability lint typecheck build bench check-crm clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# exec: Ctrl-C would kill the shell in between, and make would report "*** [run] Interrupt" (devstack.run
# stops everything and exits 0 on Ctrl-C).
run: $(STAMP)
	PYTHONPATH=. exec $(BIN)/python -m devstack.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	PYTHONPATH=. $(BIN)/python -m pytest -n 2 --dist loadfile

test-reliability: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m pytest -n 2 --dist loadfile tests/reliability

test-fast: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m pytest -n 2 --dist loadfile -x -q

bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m bench

# A CRM's connector API against docs/crm-connector.md; inputs and what it writes: python -m devstack.check_crm --help
check-crm: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m devstack.check_crm

build: $(STAMP)
	$(BIN)/python scripts/build_bundles.py --out build

clean:
	rm -rf build .mypy_cache .ruff_cache
