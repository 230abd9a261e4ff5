#!/usr/bin/env bash
# Build the Fabric binaries this project pins, once, into a cache outside the repository.
# Usage: network/build.sh            prints the directory holding peer, orderer, configtxgen, osnadmin
# The v2/v3 tags of github.com/hyperledger/fabric are not usable as Go module versions, so the
# pin is a commit (v3.1.5). A second run finds the binaries and builds nothing.
set -euo pipefail
FABRIC_COMMIT="${CERTLEDGER_FABRIC_COMMIT:-86c1172bec37e6590c6b1ae6f847833df48d65fc}"
CACHE_ROOT="${CERTLEDGER_FABRIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certledger/fabric}"
BIN_DIR="$CACHE_ROOT/$FABRIC_COMMIT/bin"
TOOLS=(peer orderer configtxgen osnadmin)

have_all() {
  local t
  for t in "${TOOLS[@]}"; do [ -x "$BIN_DIR/$t" ] || return 1; done
}

if have_all; then
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "build.sh: Go is not installed; Fabric cannot be built" >&2; exit 2; }
mkdir -p "$BIN_DIR.tmp"
pkgs=()
for t in "${TOOLS[@]}"; do pkgs+=("github.com/hyperledger/fabric/cmd/$t@$FABRIC_COMMIT"); done
echo "build.sh: building Fabric ${FABRIC_COMMIT:0:12} (${TOOLS[*]}) into $BIN_DIR; a cold build takes a few minutes" >&2
GOBIN="$BIN_DIR.tmp" GOFLAGS="${GOFLAGS:--mod=mod}" CGO_ENABLED="${CGO_ENABLED:-0}" go install "${pkgs[@]}" >&2
rm -rf "$BIN_DIR"
mv "$BIN_DIR.tmp" "$BIN_DIR"
echo "$BIN_DIR"
