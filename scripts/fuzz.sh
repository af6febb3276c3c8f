#!/usr/bin/env bash
# Runs every libFuzzer harness in fuzz/ for SECONDS each (default 60) on a copy of its seed
# corpus: scripts/fuzz.sh [SECONDS] [NAME...]. Builds build-fuzz/ with clang first
# (-Dfuzz=true, AddressSanitizer + UndefinedBehaviorSanitizer). A crash leaves its input in
# fuzz/artifacts/NAME/ and fails the run. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
names=("$@")
if (( ${#names[@]} == 0 )); then
  names=(event filter nip19 wsurl units limitation relaymsg negentropy reqparse upgrade config)
fi
if [[ ! -f build-fuzz/build.ninja ]]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false \
    -Dwerror=true >/dev/null || { echo "build-fuzz: setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C build-fuzz >/dev/null || { ninja -C build-fuzz; echo "0 passed, 1 failed"; exit 1; }
passed=0 failed=0
for n in "${names[@]}"; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$n"/* "$work"/ 2>/dev/null
  mkdir -p fuzz/artifacts/"$n"
  out=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    build-fuzz/fuzz/fuzz_"$n" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=fuzz/artifacts/"$n"/ "$work" 2>&1)
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' <<<"$out" | awk '{print $2}')
  if (( rc == 0 )); then
    passed=$((passed + 1))
    echo "fuzz_$n: ok, ${execs:-?} executions in ${seconds} s"
  else
    failed=$((failed + 1))
    echo "fuzz_$n: FAILED (exit $rc); input in fuzz/artifacts/$n/"
    grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' <<<"$out" | head -20
  fi
  rm -rf "$work"
done
echo "$passed passed, $failed failed"
(( failed == 0 ))
