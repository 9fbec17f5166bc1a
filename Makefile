# make demo · make test · make bench: each sets up what it needs on first use.
PYTHON ?= python3

VENV := .venv
VENV_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
BUNDLE := hostup-ipv6-mcp.mcpb

.PHONY: venv npm demo test bench bundle clean

venv: $(VENV_STAMP)
npm: $(NPM_STAMP)

# The stamp makes re-runs free; touching pyproject.toml (new dependency) reinstalls.
$(VENV_STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

# npm ci wipes node_modules, stamp included, so the stamp is written after it.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

demo: venv
	$(VENV)/bin/python demo.py

test: venv npm
	$(VENV)/bin/pytest -q

bench: venv
	$(VENV)/bin/python bench/run.py

bundle: npm
	node_modules/.bin/mcpb pack . $(BUNDLE)

clean:
	rm -rf $(VENV) node_modules $(BUNDLE) .pytest_cache .hypothesis build dist server/*.egg-info bench/results.json
	find server tests bench -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
