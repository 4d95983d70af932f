# Two commands from a fresh clone (README "Quick start"):
#   make demo   set up .venv from the lock, run the main job on the embedded default
#   make test   set up .venv from the lock, lint, run the tests
# Both bootstrap uv into .tools/ (pip alone takes minutes here) and sync .venv from uv.lock.

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced-$(shell sha1sum uv.lock | cut -c1-12)

# Quiet third-party telemetry and colour codes in logs; nothing here may call out.
export BENTOML_DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export ANSI_COLORS_DISABLED := 1

.PHONY: setup demo test lint format system-deps clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --quiet
	rm -f $(VENV)/.synced-* && touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/orderlens demo

system-deps:
	bash scripts/install-system-deps.sh redis-server postgresql chromium

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup system-deps lint
	$(BIN)/pytest -q

clean:
	rm -rf var .pytest_cache .ruff_cache
