#!/usr/bin/env bash
# Configures (once) and builds a build directory: scripts/build.sh [DIR [MESON OPTIONS...]]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [[ ! -f "$dir/build.ninja" ]]; then
  meson setup "$dir" -Dwerror=true "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null || ninja -C "$dir"
