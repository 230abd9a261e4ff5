#!/usr/bin/env bash
# Build the Fabric binaries this project pins, once, into a cache outside the repository.
# Usage: network/build.sh   prints the directory with bin/{peer,orderer,configtxgen,osnadmin}
# and config/{core,orderer}.yaml (Fabric's defaults, which the project overrides by env).
# The v2/v3 tags of github.com/hyperledger/fabric are not usable as Go module versions, so the
# pin is a commit (v3.1.5). A second run finds the binaries and builds nothing.
set -euo pipefail
FABRIC_COMMIT="${CERTLEDGER_FABRIC_COMMIT:-86c1172bec37e6590c6b1ae6f847833df48d65fc}"
CACHE_ROOT="${CERTLEDGER_FABRIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certledger/fabric}"
DEST="$CACHE_ROOT/$FABRIC_COMMIT"
BIN_DIR="$DEST/bin"
CFG_DIR="$DEST/config"
TOOLS=(peer orderer configtxgen osnadmin)

have_all() {
  local t
  for t in "${TOOLS[@]}"; do [ -x "$BIN_DIR/$t" ] || return 1; done
  [ -f "$CFG_DIR/core.yaml" ] && [ -f "$CFG_DIR/orderer.yaml" ]
}

if have_all; then
  echo "$DEST"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "build.sh: Go is not installed; Fabric cannot be built" >&2; exit 2; }
mkdir -p "$BIN_DIR.tmp"
pkgs=()
for t in "${TOOLS[@]}"; do pkgs+=("github.com/hyperledger/fabric/cmd/$t@$FABRIC_COMMIT"); done
echo "build.sh: building Fabric ${FABRIC_COMMIT:0:12} (${TOOLS[*]}) into $BIN_DIR; a cold build takes a few minutes" >&2
GOBIN="$BIN_DIR.tmp" GOFLAGS="${GOFLAGS:--mod=mod}" go install "${pkgs[@]}" >&2
# The nodes read their defaults from Fabric's own sample core.yaml / orderer.yaml, taken from
# the very module source the binaries were built from; the project overrides what it needs
# through environment variables.
src="$(GOFLAGS=-mod=mod go mod download -json "github.com/hyperledger/fabric@$FABRIC_COMMIT" \
  | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",*$/\1/p')"
[ -n "$src" ] && [ -f "$src/sampleconfig/core.yaml" ] || { echo "build.sh: Fabric module source not found" >&2; exit 2; }
mkdir -p "$CFG_DIR"
cp "$src/sampleconfig/core.yaml" "$src/sampleconfig/orderer.yaml" "$CFG_DIR/"
rm -rf "$BIN_DIR"
mv "$BIN_DIR.tmp" "$BIN_DIR"
echo "$DEST"
