#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/fuzz_*.cc) for a given time each.
#
#   npm run fuzz -- [seconds per target, default 60] [target ...]
#   scripts/fuzz.sh 300 server_hub client_engine
#
# Targets: frame_decoder base64 image audio client_engine server_hub wire (default: all).
# Builds with clang, ASan + UBSan and libFuzzer instrumentation in out/fuzz
# (CHATWIRE_FUZZ_DIR to change). Before fuzzing, each target replays its saved
# crashes (tests/fuzz/regressions/<target>/, they must pass now).
#
# The seed corpora (tests/fuzz/corpus/<target>/, tests/fixtures/images, tests/fixtures/audio) are
# only READ: libFuzzer writes new inputs into the first corpus directory it is
# given, which is always a scratch one (out/fuzz/work/corpus/<target>/, kept
# between runs so coverage accumulates). Crashes land in
# out/fuzz/work/crashes/<target>/; copy one into tests/fuzz/regressions/<target>/
# once its bug is fixed. Prints executions per target; exits 1 if any target
# crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
shift || true
ALL=(frame_decoder base64 image audio client_engine server_hub wire)
TARGETS=("${@:-${ALL[@]}}")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
BUILD=${CHATWIRE_FUZZ_DIR:-out/fuzz}
WORK=$BUILD/work
JOBS=${CHATWIRE_JOBS:-2}

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 1; }

dict_of() {
  case "$1" in
    frame_decoder | server_hub | client_engine) echo "-dict=tests/fuzz/json.dict" ;;
    image) echo "-dict=tests/fuzz/image.dict" ;;
    audio) echo "-dict=tests/fuzz/audio.dict" ;;
  esac
}

seeds_of() {
  case "$1" in
    image) echo tests/fixtures/images ;;
    audio) echo tests/fixtures/audio ;;
    *) echo "tests/fuzz/corpus/$1" ;;
  esac
}

echo "== fuzz: building ${TARGETS[*]} in $BUILD (clang, ASan+UBSan, libFuzzer)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCHATWIRE_FUZZ=ON -DCHATWIRE_SANITIZE=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]/#/fuzz_}" >/dev/null

# Leaks are real bugs for the stateless targets; the stateful ones free
# everything at the end of each input too, so leak checking stays on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
summary=()
for t in "${TARGETS[@]}"; do
  bin=$BUILD/fuzz_$t
  seeds=$(seeds_of "$t")
  [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  mkdir -p "$WORK/corpus/$t" "$WORK/crashes/$t"

  if compgen -G "tests/fuzz/regressions/$t/*" >/dev/null; then
    echo "== fuzz_$t: replaying tests/fuzz/regressions/$t"
    if ! "$bin" tests/fuzz/regressions/"$t"/* >"$WORK/$t.regressions.log" 2>&1; then
      echo "fuzz_$t: a saved crash crashes again, see $WORK/$t.regressions.log" >&2
      failed=1
    fi
  fi

  echo "== fuzz_$t: ${SECS}s (seeds: $seeds, read only)"
  log=$WORK/$t.log
  rc=0
  # shellcheck disable=SC2046
  "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 $(dict_of "$t") \
    -artifact_prefix="$WORK/crashes/$t/" "$WORK/corpus/$t" "$seeds" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  if [ "$rc" -ne 0 ]; then
    failed=1
    crash=$(ls -t "$WORK/crashes/$t/" 2>/dev/null | head -1)
    summary+=("fuzz_$t: CRASH after ${execs:-?} executions: $WORK/crashes/$t/$crash (log: $log)")
    grep -m1 -E 'ERROR|invariant broken|runtime error' "$log" >&2 || true
  else
    summary+=("fuzz_$t: ${execs:-?} executions in ${SECS}s (${rate:-?}/s, $cov), no crash")
  fi
done

echo
printf '%s\n' "${summary[@]}"
exit "$failed"
