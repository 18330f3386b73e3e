# Two commands on a fresh machine: `make serve` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The Debian 12 floor: Debian's python3 with the distribution's packages (see .ci/debian-floor).
FLOOR_VENV ?= .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: serve test test-floor bench lint clean mcp-node man

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

serve: $(STAMP)
	$(BIN)/mnemosyne serve

test: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerate the man pages in man/ from the code (tests/tools/test_manpages.py checks them).
man: $(STAMP)
	$(BIN)/python -m tools.manpages man

# The official MCP TypeScript SDK client for tests/clients/test_typescript_sdk.py (needs npm).
mcp-node: tests/mcp_node/node_modules/.installed-stamp

tests/mcp_node/node_modules/.installed-stamp: tests/mcp_node/package.json tests/mcp_node/package-lock.json
	cd tests/mcp_node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bench: $(STAMP)
	@$(BIN)/python -m bench

$(FLOOR_STAMP): pyproject.toml
	@test -x $(FLOOR_VENV)/bin/python || /usr/bin/python3 -m venv --system-site-packages $(FLOOR_VENV)
	@$(FLOOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		--no-deps --no-build-isolation --no-index -e .
	@touch $@

# The unit and integration suites on the oldest versions we support (needs .ci/debian-floor).
test-floor: $(FLOOR_STAMP)
	$(FLOOR_VENV)/bin/python -m pytest -p no:cacheprovider tests/unit tests/integration $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(FLOOR_VENV) .pytest_cache .coverage .coverage.* build *.egg-info \
		tests/mcp_node/node_modules
