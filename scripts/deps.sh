#!/usr/bin/env bash
# Installs what relaypool needs to build and test on Debian 12 (run as root): the Debian
# packages that are missing, then the test relay's npm dependencies (tests/relay).
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gcc pkg-config meson ninja-build
  libevent-dev libsystemd-dev libjansson-dev libwslay-dev libsecp256k1-dev libssl-dev
  libsqlite3-dev libinih-dev libcmocka-dev
  python3 python3-pytest make g++ systemd socat openssl util-linux clang libclang-rt-14-dev
  scdoc groff-base man-db bash-completion debhelper lintian dpkg-dev git
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if (( ${#missing[@]} )); then
  if (( EUID != 0 )); then
    echo "scripts/deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "scripts/deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash tests/relay/install.sh
