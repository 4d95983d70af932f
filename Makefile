# Two commands from a fresh clone (README "Quick start"):
#   make demo   set up .venv from the lock, run the main job on the embedded default
#   make test   set up .venv from the lock, lint, run both test tiers
# Both bootstrap uv into .tools/ (pip alone takes minutes here) and sync .venv from uv.lock.
# Neither needs root. The system services the integration tier starts (Redis, PostgreSQL,
# Chromium) are installed once by `make system-deps` (root; CI runs it first: .ci/run).

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced-$(shell sha1sum uv.lock | cut -c1-12)
# Test workers (pytest-xdist): one per core by default; `make test WORKERS=0` runs serially.
WORKERS ?= auto
PYTEST := $(BIN)/pytest -q -n $(WORKERS) --dist loadscope

# Quiet third-party telemetry and colour codes in logs; nothing here may call out.
export BENTOML_DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export ANSI_COLORS_DISABLED := 1

.PHONY: setup demo test test-unit test-integration lint format system-deps docs requirements bento clean

# pip -qq: errors only (a machine's pip configuration may name local indexes that are absent;
# pip would warn about each on every bootstrap).
$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -qq uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --quiet
	rm -f $(VENV)/.synced-* && touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/orderlens demo

# Root only: Debian's redis-server, postgresql and chromium (skips what is installed).
system-deps:
	bash scripts/install-system-deps.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The unit tier, then the integration tier (markers in pyproject.toml, grouping in
# tests/conftest.py). Integration tests skip a missing system service with the reason (and
# fail in CI, where `make system-deps` ran first).
test: setup lint
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-integration

test-unit: setup
	$(PYTEST) -m "not integration"

test-integration: setup
	$(PYTEST) -m integration

# Regenerate docs/settings.md from the settings model (tests/test_docs.py checks it is current).
docs: setup
	$(BIN)/python scripts/settings_doc.py --write

# The Bento's pinned requirements, exported from uv.lock (tests/test_bento.py checks them).
requirements: setup
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --no-header --no-annotate \
		--quiet -o bento-requirements.txt

# The service as a Bento (bentofile.yaml) from the newest registered model set; then
# `bentoml containerize orderlens:latest` where Docker runs (docs/operations.md).
bento: setup
	PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH \
		BENTOML_HOME=$${BENTOML_HOME:-$${ORDERLENS_HOME:-$(CURDIR)/var}/bentoml} $(BIN)/bentoml build

clean:
	rm -rf var .pytest_cache .ruff_cache
