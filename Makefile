# Two commands on a fresh machine: `make serve` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The Debian 12 floor: Debian's python3 with the distribution's packages (see .ci/debian-floor).
FLOOR_VENV ?= .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: serve test test-floor bench lint clean mcp-node deb

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

# The Debian package (packaging/debian; needs debhelper, dh-python, pybuild-plugin-pyproject,
# lintian): built from a copy of the tree (git's files, tracked or not ignored) under $(DEB_OUT)
# (dist/ by default, which git ignores),
# then checked by lintian, which must report no error and no warning.
DEB_OUT ?= dist
deb:
	rm -rf $(DEB_OUT)/debian-build && mkdir -p $(DEB_OUT)/debian-build/mnemosyne
	git ls-files -z --cached --others --exclude-standard > $(DEB_OUT)/debian-build/files
	tar --null --files-from=$(DEB_OUT)/debian-build/files --ignore-failed-read -cf - \
		| tar -xf - -C $(DEB_OUT)/debian-build/mnemosyne
	test -f $(DEB_OUT)/debian-build/mnemosyne/pyproject.toml
	rm -rf $(DEB_OUT)/debian-build/mnemosyne/debian
	cp -a packaging/debian $(DEB_OUT)/debian-build/mnemosyne/debian
	@# Debian's own toolchain and python3 only (a python3 earlier on PATH, e.g. pyenv's, would
	@# build against the wrong interpreter).
	cd $(DEB_OUT)/debian-build/mnemosyne && PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		dpkg-buildpackage -us -uc -b
	mv $(DEB_OUT)/debian-build/mnemosyne_*.deb $(DEB_OUT)/
	lintian --fail-on error,warning --info --display-info $(DEB_OUT)/mnemosyne_*.deb

clean:
	rm -rf $(VENV) $(FLOOR_VENV) .pytest_cache .coverage .coverage.* build *.egg-info \
		tests/mcp_node/node_modules dist
