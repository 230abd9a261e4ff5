# Two commands a newcomer needs: `make demo` and `make test`.
# Everything the project needs is installed from here (Debian packages, then Python packages).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
DEBIAN_PACKAGES := fonts-wqy-zenhei fonts-noto-cjk fonts-hanazono fonts-dejavu-core poppler-utils openssl libnss3-tools wrk chromium softhsm2 icc-profiles-free openjdk-17-jdk-headless maven espeak-ng nodejs postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_HOME ?= demo-home
# Where the demo listens, and what its QR codes carry (e.g. DEMO_BASE_URL=https://192.168.1.20:8443
# with DEMO_HOST=0.0.0.0 DEMO_PORT=8443 for a phone on the LAN).
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000
DEMO_BASE_URL ?=

.PHONY: install system-deps python-deps node-deps fonts test test-fabric lint unit demo bench bench-lookup bench-ltv clean

install: system-deps python-deps node-deps fonts

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

# The consoles' browser assets (jsQR) and the browser tests' axe-core, pinned in
# package-lock.json. npm comes with some nodejs builds; Debian's own nodejs needs its npm.
node_modules/.package-lock.json: package-lock.json
	@command -v npm >/dev/null || $(SUDO) apt-get install -y -q npm
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

node-deps: node_modules/.package-lock.json

# The certificates' Song faces, converted once to TrueType outlines into the cache (about a
# minute, certificates/render/truetype.py), so no server start or first certificate waits.
fonts: system-deps python-deps
	$(PY) -m certificates.render >/dev/null

lint: python-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite, tests/fabric included: those tests start a real Fabric network, so they
# need the Fabric binaries first (fabric-bin: built once, then cached; docs/fabric.md says
# where they come from). test-fabric runs the Fabric tests alone.
test: install lint fabric-bin
	$(BIN)/pytest -q

test-fabric: install fabric-bin
	$(BIN)/pytest -q tests/fabric

demo: install
	@bash tools/demo.sh "$(DEMO_HOME)" --host "$(DEMO_HOST)" --port "$(DEMO_PORT)" $(if $(DEMO_BASE_URL),--base-url "$(DEMO_BASE_URL)")

bench: install
	$(PY) -m tests.bench

# Issuance/s at PAdES B-T, B-LT and B-LTA in one run, and B-LTA offline verification/s.
bench-ltv: install
	$(PY) -m tests.bench.ltv

# Cross-agency details lookups (authorisation + audit) against the bare status endpoint.
bench-lookup: install
	$(PY) -m tests.bench.lookup

clean:
	rm -rf $(VENV) $(DEMO_HOME)

# --- the local Hyperledger Fabric network (docs/fabric.md) ---------------------------------
# fabric-bin finds or builds the pinned Fabric once, into ~/.cache/certledger/fabric/: from
# CERTLEDGER_FABRIC_BIN (release binaries), else the cache, else CERTLEDGER_FABRIC_SOURCE (a
# source archive, digest-checked, built offline), else `go install` (network/build.sh);
# fabric-up/-down/-status act on the network of the deployment in CERTLEDGER_HOME
# (default: $(DEMO_HOME), made by `make demo`).
FABRIC_HOME_DIR = $${CERTLEDGER_HOME:-$(DEMO_HOME)}
.PHONY: fabric-bin fabric-up fabric-down fabric-status bench-fabric

fabric-bin:
	@bash network/build.sh >/dev/null

fabric-up: python-deps fabric-bin
	CERTLEDGER_HOME=$(FABRIC_HOME_DIR) $(PY) -m verify_api.cli.network up

fabric-down: python-deps
	CERTLEDGER_HOME=$(FABRIC_HOME_DIR) $(PY) -m verify_api.cli.network down

fabric-status: python-deps
	CERTLEDGER_HOME=$(FABRIC_HOME_DIR) $(PY) -m verify_api.cli.network status

bench-fabric: python-deps fabric-bin
	@mkdir -p build
	$(PY) -m tests.bench.fabric --out build/fabric-bench.json
