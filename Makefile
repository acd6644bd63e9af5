# The two commands of the quick start are `make demo` and `make test`; each installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all demo stop test check lint types bench clean

all: check

$(STAMP): setup.cfg pyproject.toml
	./packaging/install-host-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

DEMO_DATA ?= demo-data
DEMO_MNT ?= mnt

# An emulator in the background with its data in $(DEMO_DATA), mounted on $(DEMO_MNT), a short
# tour; both stay up until `make stop`. Running it again restarts both cleanly.
demo: $(STAMP)
	$(BIN)/hcpfs demo --data-dir $(DEMO_DATA) --mountpoint $(DEMO_MNT)

# Unmount the demo's mount and stop its emulator (waiting for both); nothing to do otherwise.
stop:
	@if [ -x $(BIN)/hcpfs ]; then \
		$(BIN)/hcpfs demo --stop --data-dir $(DEMO_DATA) --mountpoint $(DEMO_MNT); fi

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check hcpfs tests bench
	$(BIN)/ruff format --check hcpfs tests bench

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

bench: $(STAMP)
	$(BIN)/python bench/emulator.py
	$(BIN)/python bench/sdk.py
	$(BIN)/python bench/fs.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-data
