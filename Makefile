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
DAGSTER_PORT ?= 3000
API_PORT ?= 8000
APP_PORT ?= 8501

# Binds every port `make dev` needs before anything starts, so a taken port stops it with
# one clear line instead of a traceback in the middle of the servers' logs.
define DEV_PORTS_FREE
import socket, sys
host, wanted, held = sys.argv[1], sys.argv[2:], []
for assignment in wanted:
    variable, port = assignment.split("=")
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, int(port)))
        probe.listen()
    except OSError as error:
        sys.exit(f"make dev: port {port} on {host} ({variable}) is taken: {error.strerror}. "
                 f"Stop what listens there, or pick another: make dev {variable}=<free port>")
    held.append(probe)
endef
export DEV_PORTS_FREE

# Whether the API answers its liveness route: Dagster starts only once it does, so an API
# that cannot start ends `make dev` with its own error instead of scrolling away.
define API_ANSWERS
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1)
except OSError:
    sys.exit(1)
endef
export API_ANSWERS

# dg dev runs from DAGSTER_HOME: Dagster warns about any dagster.yaml in the working folder
# other than DAGSTER_HOME's own, and the repo's is the template copied there. Paths are made
# absolute first, so the API (started here) and the code server read the same files.
dev: install $(DAGSTER_HOME)/dagster.yaml ## Dagster UI on 127.0.0.1:DAGSTER_PORT, the API on 127.0.0.1:API_PORT, the app on 127.0.0.1:APP_PORT
	@$(PY) -c "$$DEV_PORTS_FREE" 127.0.0.1 DAGSTER_PORT=$(DAGSTER_PORT) API_PORT=$(API_PORT) APP_PORT=$(APP_PORT)
	@mkdir -p $(PROSORA_HOME) && test -s $(DEV_JWT_SECRET_FILE) || $(PY) -c "import secrets; print(secrets.token_urlsafe(48))" > $(DEV_JWT_SECRET_FILE)
	@export PROSORA_JWT_SECRET="$${PROSORA_JWT_SECRET:-$$(cat $(DEV_JWT_SECRET_FILE))}" \
		PROSORA_HOME=$(abspath $(PROSORA_HOME)) DAGSTER_HOME=$(abspath $(DAGSTER_HOME)) \
		$(if $(PROSORA_CATALOG),PROSORA_CATALOG=$(abspath $(PROSORA_CATALOG))); \
	token=$$($(VENV)/bin/prosora token create --user me@prosora.local); \
	echo "API token for me@prosora.local: $$token"; \
	$(VENV)/bin/prosora serve --host 127.0.0.1 --port $(API_PORT) & api=$$!; \
	trap 'kill $$api $$app 2>/dev/null' EXIT INT TERM; \
	waited=0; until $(PY) -c "$$API_ANSWERS" $(API_PORT); do \
		kill -0 $$api 2>/dev/null || { echo "make dev: the API did not start (its output is above); Dagster was not started" >&2; exit 1; }; \
		[ $$waited -lt 120 ] || { echo "make dev: the API did not answer on port $(API_PORT) within a minute; stopping" >&2; exit 1; }; \
		sleep 0.5; waited=$$((waited + 1)); \
	done; \
	PROSORA_API_URL=http://127.0.0.1:$(API_PORT) PROSORA_API_TOKEN=$$token \
		$(VENV)/bin/prosora app --host 127.0.0.1 --port $(APP_PORT) >/dev/null & app=$$!; \
	echo "Dagster UI: http://127.0.0.1:$(DAGSTER_PORT)"; \
	echo "API:        http://127.0.0.1:$(API_PORT) (docs at /docs)"; \
	echo "App:        http://127.0.0.1:$(APP_PORT) (signed in as me@prosora.local)"; \
	cd $(abspath $(DAGSTER_HOME)) && $(abspath $(VENV))/bin/dg dev -w $(CURDIR)/workspace.yaml \
		-h 127.0.0.1 -p $(DAGSTER_PORT)

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install ## benchmarks; each prints its figures
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/parser_agreement.py
	$(PY) benchmarks/embed.py
	$(PY) benchmarks/search.py
	$(PY) benchmarks/query.py
	$(PY) benchmarks/api_load.py
	$(PY) benchmarks/api_load.py --think 1 --workers 2
	$(PY) benchmarks/scale.py

clean: ## remove local data (not the virtual environment)
	rm -rf $(PROSORA_HOME)
