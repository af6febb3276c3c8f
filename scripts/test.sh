#!/usr/bin/env bash
# The whole test suite: unit and integration tests on a normal build (build/) and on an
# AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/). The last line is
# "N passed, N failed", counted from meson's test logs.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

builds=(build build-asan)
declare -A opts=(
  [build]=""
  [build-asan]="-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"
)
broken=0
for b in "${builds[@]}"; do
  echo "== $b"
  # shellcheck disable=SC2086
  if ! bash scripts/build.sh "$b" ${opts[$b]}; then
    echo "$b: BUILD FAILED"
    broken=$((broken + 1))
    continue
  fi
  rm -f "$b/meson-logs/testlog.json"
  # Sanitizers make everything slower: test timeouts and the tests' own wait bounds grow.
  scale=1 sanitized=0
  [[ $b == build-asan ]] && scale=3 sanitized=1
  RELAYPOOL_TIMEOUT_SCALE=$scale RELAYPOOL_SANITIZED=$sanitized \
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1} \
    meson test -C "$b" --print-errorlogs --num-processes "$(nproc)" --timeout-multiplier "$scale" "${@}" | grep -v '^$'
done

# Every fuzz harness for a short while (scripts/fuzz.sh; RELAYPOOL_FUZZ_SECONDS, default 20),
# so a parser regression that crashes surfaces here; each harness counts as one test.
fuzz_passed=0 fuzz_failed=0
if (( $# == 0 )); then
  echo "== fuzz"
  fuzz_out=$(bash scripts/fuzz.sh "${RELAYPOOL_FUZZ_SECONDS:-20}")
  echo "$fuzz_out" | sed '$d'
  read -r fuzz_passed _ fuzz_failed _ <<<"$(echo "$fuzz_out" | tail -1)"
  [[ $fuzz_passed =~ ^[0-9]+$ && $fuzz_failed =~ ^[0-9]+$ ]] || { fuzz_passed=0 fuzz_failed=1; }
fi

# The Debian package: built from the tree, lintian-clean, files where the README says
# (scripts/package.sh); one test.
if (( $# == 0 )); then
  echo "== package"
  pkg_out=$(bash scripts/package.sh 2>&1)
  echo "$pkg_out" | tail -8 | sed '$d'
  read -r p_pass _ p_fail _ <<<"$(echo "$pkg_out" | tail -1)"
  [[ $p_pass =~ ^[0-9]+$ && $p_fail =~ ^[0-9]+$ ]] || { p_pass=0 p_fail=1; }
  fuzz_passed=$((fuzz_passed + p_pass))
  (( p_fail )) && echo "FAILED: package" && broken=$((broken + p_fail))
fi

/usr/bin/python3 - "$broken" "$fuzz_passed" "$fuzz_failed" "${builds[@]}" <<'PY'
import json, sys
broken, fuzz_passed, fuzz_failed, builds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
passed, failed = fuzz_passed, fuzz_failed
if fuzz_failed:
    print(f"FAILED: fuzz: {fuzz_failed} harness(es)")
for b in builds:
    try:
        lines = open(f"{b}/meson-logs/testlog.json").read().splitlines()
    except FileNotFoundError:
        continue
    for line in lines:
        t = json.loads(line)
        if t["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif t["result"] != "SKIP":
            failed += 1
            print(f"FAILED: {b}: {t['name']} ({t['result']})")
failed += broken
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
