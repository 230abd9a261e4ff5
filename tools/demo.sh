#!/usr/bin/env bash
# `make demo`: a demo deployment (made once), sample certificates, what a newcomer needs
# printed, then the server. Everything after the directory goes to `python -m verify_api.demo`
# (--host, --port, --base-url; see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
home="${1:-demo-home}"
shift || true
exec .venv/bin/python -m verify_api.demo --home "$home" "$@"
