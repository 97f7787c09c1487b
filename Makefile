# Two commands matter: `make dev` and `make test` (`make test-fast` is the inner loop). All install what is missing first.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PORT    ?= 7071
ORG     ?= region-jonkoping
REGISTRATIONS ?= 10000
PEAK_PEOPLE   ?= 2000
PEAK_MINUTES  ?= 10
SCALING_SIZES ?= 1000,10000
BENCH_ONLY    ?= cold,stages,formation,rate,invite,registration,peak,peakform,scaling

.PHONY: dev test test-fast lint bench mutate mutate-core mutate-storage deps chromium clean lock

deps: $(VENV)/.installed node_modules/.installed

# What Azure installs, exactly as locked (hash-checked, nothing unlocked pulled in); then the
# development tools in a second run (hash-checking covers a whole install, and they have no
# hashes); then the lock again, so that no tool's requirement leaves a runtime package off its pin.
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements.txt
	$(PIP_INSTALL) -r requirements-dev.txt
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements.txt
	touch $@

# requirements.txt from requirements.in: pip-tools in a throwaway environment, never in $(VENV).
# Keeps every pin it can; `make lock UPGRADE=--upgrade` moves every pin to the newest allowed.
LOCK_VENV ?= $(or $(TMPDIR),/tmp)/gruppstart-pip-tools
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools; }
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url $(UPGRADE) \
	  --output-file requirements.txt requirements.in

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

# The inner loop: unit tests, and the service tests and the storage contract on the in-memory twin of
# the storage account (shared/local/memory.py). No Azurite, no browser; tests that need Azurite itself
# are marked `azurite` and left to `make test` (docs/architecture.md, "Test tiers").
# Three workers on two cores, handing each other tests as they finish (worksteal): what waiting is left
# (queue visibility timeouts in the local host's retry tests) overlaps another worker's work, and a fourth
# worker costs more in collecting the suite (~5 s of CPU each) than it saves. The send rate's waits are
# skipped in tests (tests/support/pace.py).
# Bytecode is cached even where the environment says not to: else every worker compiles (and pytest
# rewrites) every module again, a third of the tier's CPU.
FAST_WORKERS ?= 3
test-fast: $(VENV)/.installed  # no Azurite, no browser: the Python packages are all it needs
	PYTHONDONTWRITEBYTECODE= GRUPPSTART_STORAGE=memory $(PY) -m pytest tests/unit tests/integration tests/contract -q \
		-p no:schemathesis -n $(FAST_WORKERS) --dist worksteal

lint: deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy shared functions function_app.py
	$(VENV)/bin/lint-imports --no-logo  # the import contracts in pyproject.toml (docs/architecture.md, Layers)

bench: deps
	$(PY) -m bench --write --only $(BENCH_ONLY) --registrations $(REGISTRATIONS) \
		--peak-people $(PEAK_PEOPLE) --peak-minutes $(PEAK_MINUTES) --scaling-sizes $(SCALING_SIZES)

# Mutation testing of the rules that protect people ([tool.mutmut] in pyproject.toml; not part of `make test`):
# every mutant of those modules should turn a test red. docs/mutation.md lists the survivors and why.
# Three runs, as mutmut takes one test selection per run: the core rules against the unit tests, then the
# storage rules ([tool.mutmut.storage]) against the service tests on the in-memory twin, then the webhooks'
# signature check ([tool.mutmut.webhooks]) against the webhook tests.
mutate: mutate-core mutate-storage

mutate-core: deps
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2 | tail -c 300; echo
	$(VENV)/bin/mutmut results

mutate-storage: deps
	rm -rf mutants
	GRUPPSTART_STORAGE=memory $(PY) -m tests.support.mutmut_profile storage run --max-children 2 | tail -c 300; echo
	$(PY) -m tests.support.mutmut_profile storage results
	rm -rf mutants
	GRUPPSTART_STORAGE=memory $(PY) -m tests.support.mutmut_profile webhooks run --max-children 2 | tail -c 300; echo
	$(PY) -m tests.support.mutmut_profile webhooks results

clean:
	rm -rf $(VENV) $(VENV)-infra node_modules .pytest_cache .hypothesis mutants
