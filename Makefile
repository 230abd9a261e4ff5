# Two commands a newcomer needs: `make demo` and `make test`.
# Everything the project needs is installed from here (Debian packages, then Python packages).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
DEBIAN_PACKAGES := fonts-wqy-zenhei fonts-hanazono fonts-dejavu-core poppler-utils openssl libnss3-tools wrk chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_HOME ?= demo-home

.PHONY: install system-deps python-deps test lint unit demo bench clean

install: system-deps python-deps

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

$(BIN)/certledger: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

python-deps: $(BIN)/certledger

lint: python-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -q

demo: install
	@bash tools/demo.sh "$(DEMO_HOME)"

bench: install
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) $(DEMO_HOME)
