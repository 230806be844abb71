# provision — developer entry points.  `make demo`, `make demo-vm`, `make test`, `make bench`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   ?= var/demo
VM     ?= pxe
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: demo demo-vm doctor test lint unit integration vm bench system clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

system:
	./scripts/setup-system.sh

# builds the demo (the first run makes the cached bases: a few minutes), then serves it
demo: system $(STAMP)
	$(VENV)/bin/provision --data-dir $(DATA) doctor --for demo
	$(VENV)/bin/provision --data-dir $(DATA) demo $(ARGS)

# a QEMU machine installs itself from what `make demo` built (VM=pxe or VM=iso); both take
# ARGS, e.g. ARGS="--listen 127.0.0.1:18080" when port 8080 is taken
demo-vm: system $(STAMP)
	$(VENV)/bin/provision --data-dir $(DATA) doctor --for demo-vm
	$(VENV)/bin/provision --data-dir $(DATA) demo --vm $(VM) $(ARGS)

doctor: $(STAMP)
	$(VENV)/bin/provision --data-dir $(DATA) doctor --for all

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: system $(STAMP) lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

integration: system $(STAMP)
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

vm: system $(STAMP)
	$(VENV)/bin/pytest tests/vm $(PYTEST_ARGS)

bench: system $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) var build *.egg-info
