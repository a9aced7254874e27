# The two sacred commands: `make dev` and `make test`. Everything is installed by these files.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv

UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

.PHONY: dev test lint bench install uv clean

SOURCES := followthrough workflows activities channels api bench cli.py worker.py devstack.py

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv==$(UV_VERSION)

uv: $(if $(findstring .tools,$(UV)),$(CURDIR)/.tools/bin/uv,)

# Bytecode is compiled at install: a process never compiles our dependencies' sources at start
# (where PYTHONDONTWRITEBYTECODE is set it would at every start: ~3 s of a worker's restart).
install: uv
	$(UV) sync --frozen --python 3.11 --compile-bytecode
	$(CURDIR)/.venv/bin/python -m compileall -q -j 0 $(SOURCES)

dev: install
	$(UV) run --frozen followthrough dev

# The suite on TEST_WORKERS processes (pytest-xdist; each starts its own Temporal servers and
# PostgreSQL database). `--dist load` hands out tests by index: the scope-based modes (loadgroup,
# loadfile) key them by node id and would run one of the Schemathesis items that share theirs.
TEST_WORKERS ?= 2
test: install
	$(UV) run --frozen pytest -q -n $(TEST_WORKERS) --dist load

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy followthrough

# Both exit non-zero on any duplicate message (the load test: 1,000 contacts, CPU burners).
# Four pairs: on a shared machine one pair's ratio to bare Temporal moves by about ±0.2x.
bench: install
	$(UV) run --frozen python -m bench.run --pairs 4 --server-ops
	$(UV) run --frozen python -m bench.contention

clean:
	rm -rf .venv .tools .pytest_cache
