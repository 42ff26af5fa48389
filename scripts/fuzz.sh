#!/usr/bin/env bash
# Fuzzing (not a test): runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60) and
# prints executions, coverage and crashes per target. Needs nightly and cargo-fuzz
# (rustup toolchain install nightly; cargo install cargo-fuzz).
#   scripts/fuzz.sh [seconds] [target ...]
# New inputs go to fuzz/corpus/TARGET (not committed); crashes to fuzz/artifacts/TARGET. The
# shared third-party captures, configs and maps seed the runs when ../shared is there.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode savefile config maps query)
shared=../shared
seeds() { # target -> extra corpus dirs
  case "$1" in
    decode|savefile) for d in "$shared/testdata/capture" "$shared/testdata/malformed"; do [ -d "$d" ] && echo "$d"; done ;;
    config) for d in "$shared/configs" examples packaging/etc/pmacct; do [ -d "$d" ] && echo "$d"; done ;;
    maps) echo packaging/etc/pmacct ;;
    *) ;;
  esac
}
printf '%-10s %14s %10s %10s %8s\n' target executions "exec/s" coverage crashes
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  mapfile -t extra < <(seeds "$t")
  log="fuzz/$t.log"
  (cd fuzz && cargo +nightly fuzz run "$t" "corpus/$t" "${extra[@]/#/../}" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10) > "$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  crashes=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  printf '%-10s %14s %10s %10s %8s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$crashes"
done
