#!/usr/bin/env bash
# The main job on one machine: install dependencies, build, start a real local Nostr relay
# and relaypoold against it in a temp dir, drive the daemon through relaypoolctl, and shut
# both down cleanly. This is the project's living demo: it grows with every capability.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh
bash scripts/build.sh build
ctl="$root/build/ctl/relaypoolctl"
daemon="$root/build/daemon/relaypoold"

work=$(mktemp -d /tmp/relaypool-demo.XXXXXX)
relay_pid="" daemon_pid=""
cleanup() {
  [[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [[ -n "$relay_pid" ]] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting a local Nostr relay (tests/relay, @nostr-relay/core)"
coproc RELAY { exec node tests/relay/relay.js --port 0 --db "$work/relay.sqlite" 2>"$work/relay.log"; }
relay_pid=$RELAY_PID
read -r word port <&"${RELAY[0]}"
[[ "$word" == LISTENING ]] || { echo "relay did not start"; cat "$work/relay.log"; exit 1; }
echo "relay listening on ws://127.0.0.1:$port"

step "creating a signing key ($work/key, mode 0600)"
( umask 077; openssl rand -hex 32 > "$work/key" )

step "writing $work/relaypoold.conf"
cat > "$work/relaypoold.conf" <<CONF
[daemon]
socket = $work/control.sock
cache = $work/cache.db
key = $work/key
log_level = info

[pool]
sessions = 2
inflight = 16

[relay local]
url = ws://127.0.0.1:$port

[group demo]
relays = local
filter = {"kinds": [1], "#t": ["relaypool-demo"]}
CONF
"$daemon" -c "$work/relaypoold.conf" --check-config

step "starting relaypoold"
"$daemon" -c "$work/relaypoold.conf" 2>"$work/relaypoold.log" &
daemon_pid=$!
export RELAYPOOL_SOCKET="$work/control.sock"
for _ in $(seq 100); do "$ctl" version >/dev/null 2>&1 && break; sleep 0.1; done

step "relaypoolctl status"
"$ctl" status

step "relaypoolctl publish --kind 1 --content ... (the daemon signs with its key)"
"$ctl" publish --group demo --kind 1 --content "hello from relaypool" --tag t=relaypool-demo

step "relaypoolctl publish: 500 events signed by nostr-tools, pipelined over one connection"
node tests/relay/tools.js gen 500 --seed demo --tag t=relaypool-demo > "$work/events.jsonl"
"$ctl" publish --group demo "$work/events.jsonl" | tail -n 3

step "relaypoolctl relays"
"$ctl" relays

step "relaypoolctl stats: the daemon's own measure of its parallelism, and what limits it"
"$ctl" stats

step "another client writes 300 events straight to the relay; relaypoolctl sync --group demo fetches them (NIP-77 negentropy: the test relay speaks it)"
node tests/relay/tools.js gen 300 --seed demo-elsewhere --tag t=relaypool-demo --since "$(( $(date +%s) - 600 ))" \
  > "$work/elsewhere.jsonl"
node tests/relay/tools.js pub "ws://127.0.0.1:$port" "$work/elsewhere.jsonl"
"$ctl" sync --group demo

step "relaypoolctl sync again: the sets are equal, only fingerprints cross"
"$ctl" sync --group demo

step "the same by REQ pagination (--method req): only what is new since the cursor"
"$ctl" sync --group demo --method req

step "relaypoolctl query '{\"#t\": [\"relaypool-demo\"]}' --limit 3"
"$ctl" query '{"#t": ["relaypool-demo"]}' --limit 3

step "relaypoolctl outbox --pending (nothing waits: every event was accepted)"
"$ctl" outbox --pending

step "relaypoolctl --json status"
"$ctl" --json status

step "stopping relaypoold (SIGTERM) and the relay"
kill -TERM "$daemon_pid"
wait "$daemon_pid" && echo "relaypoold exited cleanly"
daemon_pid=""
[[ ! -e "$work/control.sock" ]] && echo "control socket removed"
kill -TERM "$relay_pid"; wait "$relay_pid" 2>/dev/null || true
relay_pid=""
echo
echo "daemon log:"
sed 's/^/  /' "$work/relaypoold.log"
