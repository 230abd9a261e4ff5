#!/usr/bin/env bash
# `make demo`: initialise a demo deployment (once), issue samples, and serve on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${1:-demo-home}"
export CERTLEDGER_HOME="$home"
if [ -z "${CERTLEDGER_PASSPHRASE:-}" ]; then
  # A demo deployment keeps a random passphrase next to its data; a real one takes it from a vault.
  mkdir -p "$home" && chmod 700 "$home"
  [ -f "$home/.demo-passphrase" ] || (umask 077 && head -c 24 /dev/urandom | base64 > "$home/.demo-passphrase")
  CERTLEDGER_PASSPHRASE="$(cat "$home/.demo-passphrase")"
  export CERTLEDGER_PASSPHRASE
fi
if [ ! -f "$home/settings.json" ]; then
  .venv/bin/certledger init --demo
else
  echo "using the existing demo deployment in $home (delete it to start afresh)"
  cat "$home/samples/links.txt" 2>/dev/null || true
fi
echo
echo "Open http://127.0.0.1:8000/docs for the API; the verification links above open the QR pages."
exec .venv/bin/certledger serve --host 127.0.0.1 --port 8000
