# pyxmtp: two commands from a fresh clone.
#   make run   - create .venv, install pyxmtp, run a node on 127.0.0.1:5556 (data in ./pyxmtp-data)
#   make test  - create .venv with the dev extras, then pytest + ruff + mypy + the layer contract
#   make shell - a shell with .venv/bin on PATH (the pyxmtp command), after installing

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 5556
DATA   ?= ./pyxmtp-data
PYTEST_ARGS ?=
# e.g. make bench-node NODE_BENCH_ARGS='--stores sqlite,postgres' (PostgreSQL at --database-url, default local test)
NODE_BENCH_ARGS ?=

.PHONY: run shell test install install-dev pytest lint typecheck layers bench bench-mls bench-node bench-client proto clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.stamp-install: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[dev,postgres,encrypted]'
	touch $@ $(VENV)/.stamp-install

install: $(VENV)/.stamp-install
install-dev: $(VENV)/.stamp-dev
	bash scripts/setup_interop.sh

run: install
	$(VENV)/bin/pyxmtp node --host $(HOST) --port $(PORT) --data-dir $(DATA)

shell: install
	@echo "pyxmtp is on PATH in this shell ($(abspath $(VENV))/bin); exit to leave it"
	@VIRTUAL_ENV="$(abspath $(VENV))" PATH="$(abspath $(VENV))/bin:$$PATH" $${SHELL:-/bin/bash} -i

test: install-dev
	$(PY) -m pytest -n 2 -rs $(PYTEST_ARGS)
	$(VENV)/bin/ruff check src tests benchmarks scripts examples
	$(VENV)/bin/ruff format --check src tests benchmarks scripts examples
	$(VENV)/bin/mypy

pytest: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks scripts examples
	$(VENV)/bin/ruff format --check src tests benchmarks scripts examples

typecheck: install-dev
	$(VENV)/bin/mypy

layers: install-dev
	$(PY) -m pytest tests/test_layers.py

proto: install-dev
	$(PY) scripts/gen_proto.py

bench: bench-mls bench-node bench-client

bench-mls: install-dev
	$(PY) benchmarks/mls_bench.py

bench-node: install-dev
	$(PY) benchmarks/node_bench.py $(NODE_BENCH_ARGS)

bench-client: install-dev
	$(PY) benchmarks/client_bench.py
	$(PY) benchmarks/archive_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
