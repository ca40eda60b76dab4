# Prosora Pipelines. `make demo` and `make test` set everything up on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

export PROSORA_HOME ?= $(CURDIR)/.prosora
export DAGSTER_HOME ?= $(PROSORA_HOME)/dagster
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test dev lint bench clean

$(INSTALLED): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint constraints.txt --editable ".[dev]"
	touch $@

install: $(INSTALLED) ## create or reuse .venv and install the project with its dev tools

$(DAGSTER_HOME)/dagster.yaml: prosora_pipelines/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp prosora_pipelines/dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml ## run the whole pipeline offline on the bundled sample
	$(VENV)/bin/prosora demo

test: install ## run every test
	$(PY) -m pytest

DEV_JWT_SECRET_FILE := $(PROSORA_HOME)/dev-jwt-secret

dev: install $(DAGSTER_HOME)/dagster.yaml ## Dagster UI on http://127.0.0.1:3000 and the API on http://127.0.0.1:8000
	@test -s $(DEV_JWT_SECRET_FILE) || $(PY) -c "import secrets; print(secrets.token_urlsafe(48))" > $(DEV_JWT_SECRET_FILE)
	@export PROSORA_JWT_SECRET="$${PROSORA_JWT_SECRET:-$$(cat $(DEV_JWT_SECRET_FILE))}"; \
	echo "API token for me@prosora.local: $$($(VENV)/bin/prosora token create --user me@prosora.local)"; \
	$(VENV)/bin/prosora serve --port 8000 & api=$$!; \
	trap 'kill $$api 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install ## benchmarks; each prints its figures
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/embed.py
	$(PY) benchmarks/search.py
	$(PY) benchmarks/query.py
	$(PY) benchmarks/api_load.py
	$(PY) benchmarks/api_load.py --think 1 --workers 2

clean: ## remove local data (not the virtual environment)
	rm -rf $(PROSORA_HOME)
