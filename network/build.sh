#!/usr/bin/env bash
# Find or build the Fabric binaries this project pins (v3.1.5), once, in a cache outside the
# repository.
# Usage: network/build.sh   prints a directory with bin/{peer,orderer,configtxgen,osnadmin}
# and config/{core,orderer}.yaml (Fabric's defaults, which the project overrides by env).
#
# Where the binaries come from, first match wins:
#   1. CERTLEDGER_FABRIC_BIN     a directory of official release binaries (a release's bin/);
#                                config from its sibling config/, else from the source below.
#   2. the cache                 $CERTLEDGER_FABRIC_CACHE (default ~/.cache/certledger/fabric)
#                                /<commit>/, made by 3 or 4 before: nothing is built again.
#   3. CERTLEDGER_FABRIC_SOURCE  a source archive of the pinned release with vendor/ (a
#                                `git archive` of the tag plus its modules); its SHA-256 must
#                                be FABRIC_SOURCE_SHA256 below. Built offline: -mod=vendor,
#                                GOPROXY=off, GOTOOLCHAIN=local.
#   4. `go install` of the pinned commit from the Go module proxy (needs internet access).
# A build goes into a temporary directory under the cache and is renamed into place at the
# end, so an interrupted build leaves no half cache; a lock keeps two builds from racing.
set -euo pipefail
FABRIC_VERSION=3.1.5
# The v2/v3 tags of github.com/hyperledger/fabric are not usable as Go module versions, so
# the `go install` pin is the tag's commit.
FABRIC_COMMIT="${CERTLEDGER_FABRIC_COMMIT:-86c1172bec37e6590c6b1ae6f847833df48d65fc}"
# SHA-256 of the v3.1.5 source archive (fabric-v3.1.5-src.tar.xz) that may stand in for the
# module download where the proxy refuses it. An archive with another digest is refused.
FABRIC_SOURCE_SHA256=aaba846edea88b8a86df39dea33bdcdc07c3910ae514cb7747bc9d0f90d222f4
CACHE_ROOT="${CERTLEDGER_FABRIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certledger/fabric}"
DEST="$CACHE_ROOT/$FABRIC_COMMIT"
TOOLS=(peer orderer configtxgen osnadmin)
MODULE=github.com/hyperledger/fabric

say() { echo "build.sh: $*" >&2; }
die() {
  local code=$1
  shift
  say "$*"
  exit "$code"
}

complete() { # complete DIR: bin/ has every tool and config/ both defaults
  local t
  for t in "${TOOLS[@]}"; do [ -x "$1/bin/$t" ] || return 1; done
  [ -f "$1/config/core.yaml" ] && [ -f "$1/config/orderer.yaml" ]
}

work=""
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM # an interrupted build still removes its work directory

new_work_dir() { # a fresh directory on the cache's filesystem, so the final rename is atomic
  mkdir -p "$CACHE_ROOT"
  work="$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")"
  chmod 755 "$work" # mktemp makes it 0700; the cache entry is an ordinary directory
  mkdir -p "$work/bin" "$work/config"
}

publish() { # publish TARGET: rename the finished work dir to TARGET, replacing a stale one
  local target=$1
  complete "$work" || die 2 "internal error: the build in $work is incomplete"
  if [ -e "$target" ]; then # an incomplete entry (older build.sh): set aside, then removed
    local stale="$CACHE_ROOT/.stale.$$"
    mv -T "$target" "$stale"
    rm -rf "$stale"
  fi
  mv -T "$work" "$target"
  work=""
}

verified_source() { # prints the archive's path once its digest matches the pin
  local src=$CERTLEDGER_FABRIC_SOURCE digest
  [ -f "$src" ] || die 2 "CERTLEDGER_FABRIC_SOURCE=$src is not a file"
  digest="$(sha256sum "$src" | cut -d' ' -f1)"
  if [ "$digest" != "$FABRIC_SOURCE_SHA256" ]; then
    die 3 "refusing CERTLEDGER_FABRIC_SOURCE=$src: its SHA-256 is $digest, but network/build.sh" \
      "pins $FABRIC_SOURCE_SHA256 (Fabric v$FABRIC_VERSION source with vendor/)"
  fi
  echo "$src"
}

unpack() { # unpack ARCHIVE DIR: the archive's one top-level directory becomes DIR
  mkdir -p "$2"
  tar -xJf "$1" -C "$2" --strip-components=1 --no-same-owner
  [ -f "$2/go.mod" ] && [ -f "$2/vendor/modules.txt" ] && [ -f "$2/sampleconfig/core.yaml" ] ||
    die 2 "$1 is not a Fabric source archive with vendor/ and sampleconfig/"
  grep -qx "module $MODULE" "$2/go.mod" || die 2 "$1 does not hold the module $MODULE"
}

lock() { # one build at a time per cache; a second caller then finds the first one's result
  mkdir -p "$CACHE_ROOT"
  exec 9>"$CACHE_ROOT/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 9
    # Holding the lock, no other build runs: work directories left by a killed build go.
    rm -rf "$CACHE_ROOT"/.build.* "$CACHE_ROOT"/.stale.*
  fi
}

# --- 1. release binaries -----------------------------------------------------------------
if [ -n "${CERTLEDGER_FABRIC_BIN:-}" ]; then
  bin="$(realpath -e "$CERTLEDGER_FABRIC_BIN" 2>/dev/null)" ||
    die 2 "CERTLEDGER_FABRIC_BIN=$CERTLEDGER_FABRIC_BIN does not exist"
  for t in "${TOOLS[@]}"; do
    [ -x "$bin/$t" ] || die 2 "CERTLEDGER_FABRIC_BIN=$bin has no executable $t"
  done
  version="$("$bin/peer" version 2>/dev/null | sed -n 's/^ *Version: *v\{0,1\}//p' | head -n1)"
  [ "$version" = "$FABRIC_VERSION" ] ||
    say "warning: $bin/peer reports version '${version:-?}', the project is tested with v$FABRIC_VERSION"
  # The entry is named after the directory, holds a link to it (so new binaries there are
  # used as they are) and a copy of the config defaults.
  DEST="$CACHE_ROOT/release-$(printf '%s' "$bin" | sha256sum | cut -c1-16)"
  if complete "$DEST" && [ "$(readlink "$DEST/bin")" = "$bin" ]; then
    echo "$DEST"
    exit 0
  fi
  lock
  new_work_dir
  rmdir "$work/bin"
  ln -s "$bin" "$work/bin"
  if [ -f "$bin/../config/core.yaml" ] && [ -f "$bin/../config/orderer.yaml" ]; then
    cp "$bin/../config/core.yaml" "$bin/../config/orderer.yaml" "$work/config/"
  elif [ -n "${CERTLEDGER_FABRIC_SOURCE:-}" ]; then
    src="$(verified_source)"
    tar -xJf "$src" -C "$work/config" --strip-components=2 --no-same-owner \
      --wildcards '*/sampleconfig/core.yaml' '*/sampleconfig/orderer.yaml'
  else
    die 2 "CERTLEDGER_FABRIC_BIN=$bin has no sibling config/{core,orderer}.yaml;" \
      "set CERTLEDGER_FABRIC_SOURCE to the source archive to take them from there"
  fi
  echo "release binaries from $bin" >"$work/ORIGIN"
  publish "$DEST"
  echo "$DEST"
  exit 0
fi

# --- 2. the cache ------------------------------------------------------------------------
if complete "$DEST"; then
  echo "$DEST"
  exit 0
fi

command -v go >/dev/null 2>&1 || die 2 "Go is not installed; Fabric cannot be built"
lock
if complete "$DEST"; then # built by another caller while this one waited for the lock
  echo "$DEST"
  exit 0
fi
new_work_dir
started=$SECONDS

# --- 3. the source archive, offline ------------------------------------------------------
if [ -n "${CERTLEDGER_FABRIC_SOURCE:-}" ]; then
  src="$(verified_source)"
  say "building Fabric v$FABRIC_VERSION (${TOOLS[*]}) from $src into $DEST; about 90 s cold"
  unpack "$src" "$work/src"
  pkgs=()
  for t in "${TOOLS[@]}"; do pkgs+=("./cmd/$t"); done
  # The version the nodes report, as Fabric's own Makefile stamps it.
  ldflags="-X $MODULE/common/metadata.Version=v$FABRIC_VERSION"
  ldflags+=" -X $MODULE/common/metadata.CommitSHA=${FABRIC_COMMIT:0:7}"
  (cd "$work/src" &&
    GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 \
      go build -trimpath -ldflags "$ldflags" -o "$work/bin/" "${pkgs[@]}") >&2
  cp "$work/src/sampleconfig/core.yaml" "$work/src/sampleconfig/orderer.yaml" "$work/config/"
  rm -rf "$work/src"
  echo "built from $(basename "$src") (sha256 $FABRIC_SOURCE_SHA256)" >"$work/ORIGIN"

# --- 4. go install from the module proxy -------------------------------------------------
else
  pkgs=()
  for t in "${TOOLS[@]}"; do pkgs+=("$MODULE/cmd/$t@$FABRIC_COMMIT"); done
  say "building Fabric ${FABRIC_COMMIT:0:12} (${TOOLS[*]}) with go install into $DEST;" \
    "a cold build takes a few minutes (no internet access? set CERTLEDGER_FABRIC_SOURCE)"
  GOBIN="$work/bin" GOFLAGS="${GOFLAGS:--mod=mod}" go install "${pkgs[@]}" >&2
  # The nodes read their defaults from Fabric's own sample core.yaml / orderer.yaml, taken
  # from the very module source the binaries were built from.
  mod="$(GOFLAGS=-mod=mod go mod download -json "$MODULE@$FABRIC_COMMIT" |
    sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",*$/\1/p')"
  [ -n "$mod" ] && [ -f "$mod/sampleconfig/core.yaml" ] || die 2 "Fabric module source not found"
  cp "$mod/sampleconfig/core.yaml" "$mod/sampleconfig/orderer.yaml" "$work/config/"
  echo "go install $MODULE/cmd/...@$FABRIC_COMMIT" >"$work/ORIGIN"
fi

publish "$DEST"
say "Fabric is in $DEST ($((SECONDS - started)) s)"
echo "$DEST"
