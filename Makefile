# Two commands on a fresh machine: `make serve` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# `make serve` needs only the runtime dependencies: no test tools (selenium, schemathesis, ...).
RUNTIME_STAMP := $(VENV)/.runtime-stamp
# The Debian 12 floor: Debian's python3 with the distribution's packages (see .ci/debian-floor).
FLOOR_VENV ?= .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: serve test test-floor bench lint clean mcp-node man rpm deb

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

$(RUNTIME_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

serve: $(RUNTIME_STAMP)
	$(BIN)/mnemosyne serve

test: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerate the man pages in man/ from the code (tests/tools/test_manpages.py checks them).
man: $(RUNTIME_STAMP)
	$(BIN)/python -m tools.manpages man

# The official MCP TypeScript SDK client for tests/clients/test_typescript_sdk.py (needs npm).
mcp-node: tests/mcp_node/node_modules/.installed-stamp

tests/mcp_node/node_modules/.installed-stamp: tests/mcp_node/package.json tests/mcp_node/package-lock.json
	cd tests/mcp_node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bench: $(STAMP)
	@$(BIN)/python -m bench

VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' mnemosyne/__init__.py)
RPM_TOPDIR ?= $(CURDIR)/build/rpm
# A noarch RPM from this tree (packaging/rpm/mnemosyne-agent.spec) into $(RPM_TOPDIR)/RPMS/noarch.
# Needs rpmbuild (Debian: apt-get install rpm) and python3-build, python3-installer;
# --nodeps: the build requirements are Fedora's package names, absent from Debian's rpm database;
# brp-compress (gzips the man pages) needs bash, and Debian's /bin/sh is dash.
rpm:
	rm -rf $(RPM_TOPDIR) && mkdir -p $(RPM_TOPDIR)/SOURCES
	tar --exclude-vcs --exclude='./.venv*' --exclude=./build --exclude=./dist \
		--exclude='*.egg-info' --exclude=__pycache__ --exclude=node_modules \
		--exclude=./.mnemosyne --exclude=./.pytest_cache --exclude='./.coverage*' \
		--exclude=./.ruff_cache --exclude=./bench/results \
		--transform 's,^\.,$(NAME_VERSION),S' \
		-czf $(RPM_TOPDIR)/SOURCES/$(NAME_VERSION).tar.gz .
	rpmbuild -bb --nodeps --define '_topdir $(RPM_TOPDIR)' \
		--define '__brp_compress /bin/bash %{_rpmconfigdir}/brp-compress %{_prefix}' \
		packaging/rpm/mnemosyne-agent.spec
NAME_VERSION = mnemosyne-$(VERSION)

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
	mv $(DEB_OUT)/debian-build/mnemosyne-agent_*.deb $(DEB_OUT)/
	lintian --fail-on error,warning --info --display-info $(DEB_OUT)/mnemosyne-agent_*.deb

clean:
	rm -rf $(VENV) $(FLOOR_VENV) .pytest_cache .coverage .coverage.* build *.egg-info \
		tests/mcp_node/node_modules dist
