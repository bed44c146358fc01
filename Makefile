# Two commands for a new user: `make demo` and `make test`. Both create .venv if needed.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.acg2vec-installed
PYTEST_ARGS ?=

.PHONY: setup system-packages demo test test-all lint format clean

setup: $(STAMP)

# Reinstall when the dependency set changes. torch comes first and exactly pinned: pip then keeps the
# CPU build instead of resolving a CUDA one for sentence-transformers.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The Debian packages the tests drive (system-packages.txt): installed when run as root with apt-get, else one
# sentence naming them and a non-zero exit. ACG2VEC_SKIP_SYSTEM_PACKAGES=1 skips the tests that need them instead.
system-packages:
	@sh scripts/system-packages.sh

demo: setup
	$(BIN)/acg2vec demo

# The whole suite except tests marked slow; `make test-all` runs those too.
test: setup system-packages
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: setup system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check acg2vec tests benchmarks
	$(BIN)/ruff format --check acg2vec tests benchmarks
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix acg2vec tests benchmarks
	$(BIN)/ruff format acg2vec tests benchmarks

container: ; bash scripts/container-build.sh  # the image with podman (docs/deploy.md); BASE_IMAGE=python:3.11-slim where a registry is at hand

clean:
	rm -rf $(VENV) acg2vec-data .pytest_cache .ruff_cache
