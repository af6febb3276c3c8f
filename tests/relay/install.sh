#!/usr/bin/env bash
# Install the test relay's Node dependencies (tests/relay/node_modules) from
# package-lock.json. Idempotent: returns at once when the install is present,
# matches the lock file and loads.
#
# Needs (Debian 12 package names; install them beforehand, this script never
# runs apt-get):
#   nodejs (Node >= 20, with its headers in /usr/include/node) and npm (>= 9)
#   python3 make g++   (or build-essential + python3): better-sqlite3 is
#                      compiled from source by node-gyp, since no prebuilt
#                      binary can be downloaded here (takes ~1 min on 2 cores)
#
# Usage: tests/relay/install.sh [--force]
set -euo pipefail

cd "$(dirname "$0")"
here=$(pwd)
stamp=node_modules/.relaypool-install-stamp

die() { echo "tests/relay/install.sh: $*" >&2; exit 1; }

force=0
[[ "${1:-}" == "--force" ]] && force=1

command -v node >/dev/null || die "node not found (apt package: nodejs, Node >= 20)"
command -v npm >/dev/null || die "npm not found (needs npm >= 9)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node >= 20 required, found $(node --version)"

# What the stamp records: lock file content + Node ABI + platform.
want=$(node -e '
  const c = require("crypto"), fs = require("fs");
  const h = c.createHash("sha256").update(fs.readFileSync("package-lock.json"));
  console.log(h.digest("hex") + " " + process.versions.modules + " " + process.platform + "-" + process.arch);
')

loads() {
  node -e '
    const Database = require("better-sqlite3");
    new Database(":memory:").close();
    require("@nostr-relay/core"); require("@nostr-relay/validator");
    require("@nostr-relay/event-repository-sqlite");
    require("ws"); require("nostr-tools");
  ' >/dev/null 2>&1
}

if (( ! force )) && [[ -f $stamp ]] && [[ "$(cat "$stamp")" == "$want" ]] && loads; then
  echo "tests/relay: dependencies already installed"
  exit 0
fi

# Build prerequisites for better-sqlite3 (node-gyp).
missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || command -v c++ >/dev/null || missing+=(g++)
if (( ${#missing[@]} )); then
  die "missing build tools: ${missing[*]} (apt-get install -y python3 make g++)"
fi

# node-gyp must use the installed Node headers: it cannot download them here.
if [[ -z "${npm_config_nodedir:-}" ]]; then
  nodedir=$(node -p 'require("path").resolve(process.execPath, "..", "..")')
  if [[ -f "$nodedir/include/node/node.h" ]]; then
    export npm_config_nodedir="$nodedir"
  else
    die "Node headers not found under $nodedir/include/node (the nodejs package ships them); set npm_config_nodedir"
  fi
fi
# Compile better-sqlite3 instead of letting prebuild-install try a download.
export npm_config_build_from_source=true

echo "tests/relay: installing dependencies (npm ci, builds better-sqlite3 from source)..."
rm -f "$stamp"
# better-sqlite3's install script is approved by the "allowScripts" entry in
# package.json (npm 11 blocks unapproved dependency install scripts).
npm ci --no-audit --no-fund --loglevel=warn

if ! loads; then
  echo "tests/relay: better-sqlite3 not loadable after npm ci; rebuilding it" >&2
  npm rebuild better-sqlite3 --foreground-scripts --loglevel=warn
fi
loads || {
  node -e 'require("better-sqlite3")' || true
  die "dependencies installed but do not load (see error above)"
}

echo "$want" > "$stamp"
echo "tests/relay: dependencies installed in $here/node_modules"
