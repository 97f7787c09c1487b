# Two commands matter: `make dev` and `make test`. Both install what is missing first.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PORT    ?= 7071
ORG     ?= region-jonkoping
REGISTRATIONS ?= 10000
PEAK_PEOPLE   ?= 2000
PEAK_MINUTES  ?= 10
SCALING_SIZES ?= 1000,10000
BENCH_ONLY    ?= cold,formation,rate,invite,registration,peak,scaling

.PHONY: dev test lint bench deps chromium clean

deps: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium drives the page tests; Playwright never downloads a browser here.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Checkov lives in a virtual environment of its own: beside the app's packages pip backtracks for minutes.
$(VENV)-infra/.installed: requirements-infra.txt
	test -x $(VENV)-infra/bin/python || $(PYTHON) -m venv $(VENV)-infra
	$(VENV)-infra/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

dev: deps
	PORT=$(PORT) ORG=$(ORG) $(PY) -m shared.local.dev

test: deps chromium $(VENV)-infra/.installed
	$(PY) -m pytest

lint: deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy shared functions function_app.py
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_import_contract.py  # the layers (docs/architecture.md)

bench: deps
	$(PY) -m bench --write --only $(BENCH_ONLY) --registrations $(REGISTRATIONS) \
		--peak-people $(PEAK_PEOPLE) --peak-minutes $(PEAK_MINUTES) --scaling-sizes $(SCALING_SIZES)

clean:
	rm -rf $(VENV) $(VENV)-infra node_modules .pytest_cache .hypothesis
