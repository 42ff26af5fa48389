#!/usr/bin/env bash
# Fuzzing (not a test): runs cargo-fuzz targets of fuzz/ and prints executions, exec/s,
# coverage and crashes per target. Needs nightly and cargo-fuzz
# (rustup toolchain install nightly; cargo install cargo-fuzz).
#   scripts/fuzz.sh [options] [target ...]
#     --time SECONDS    run each target this long (default 60)
#     --runs N          run each target for N executions instead
#     --own-seeds       seed only with inputs of this repository (no ../shared)
#     --save-seeds      then minimize the corpus into fuzz/seeds/TARGET (committed; replayed by
#                       crates/daemon/tests/fuzz_corpus.rs on stable)
# Targets run under AddressSanitizer, except `config` (safe Rust only, no unsafe on its path:
# without the sanitizer it runs 3x faster; panics, hangs and memory blow-ups are still caught).
# New inputs go to fuzz/corpus/TARGET (fuzz/corpus-own with --own-seeds; not committed), crashes
# to fuzz/artifacts/TARGET. Logs in fuzz/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=60)
own=0
save=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    --own-seeds) own=1; shift ;;
    --save-seeds) save=1; shift ;;
    [0-9]*) limit=(-max_total_time="$1"); shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(decode frames savefile config maps query socket interfaces datagrams flows collector sflow)
shared=../shared
corpus=corpus
[ $own = 1 ] && corpus=corpus-own

# Seed directories for a target (relative to the repository).
seeds() {
  [ -d "fuzz/seeds/$1" ] && echo "fuzz/seeds/$1"
  case "$1" in
    decode|savefile|frames)
      echo fuzz/gen
      if [ $own = 0 ]; then
        for d in "$shared/testdata/capture" "$shared/testdata/malformed"; do [ -d "$d" ] && echo "$d"; done
      fi ;;
    config) echo examples; echo packaging/etc/pmacct
      [ $own = 0 ] && [ -d "$shared/configs" ] && echo "$shared/configs" ;;
    maps|interfaces) echo packaging/etc/pmacct
      [ $own = 0 ] && [ -d "$shared/configs" ] && echo "$shared/configs" ;;
    socket) echo fuzz/seeds/query ;;
    collector) echo fuzz/seeds/flows ;;
  esac
  true
}

# Small captures of our own generator as seeds for the frame and file targets.
if [ ! -d fuzz/gen ]; then
  mkdir -p fuzz/gen
  cargo build -q --release -p pmacct-daemon --bin pcapgen
  for framing in ethernet fabricpath vntag wlan; do
    target/release/pcapgen "fuzz/gen/$framing.pcap" 40 20 10 1700000000 "$framing" >/dev/null
  done
fi

printf '%-10s %14s %10s %10s %8s\n' target executions "exec/s" coverage crashes
for t in "${targets[@]}"; do
  mkdir -p "fuzz/$corpus/$t"
  mapfile -t extra < <(seeds "$t")
  sanitizer=address
  [ "$t" = config ] && sanitizer=none
  log="fuzz/$t.log"
  (cd fuzz && cargo +nightly fuzz run -s "$sanitizer" -O "$t" "$corpus/$t" "${extra[@]/#/../}" -- \
      "${limit[@]}" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10) > "$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  crashes=$(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)
  printf '%-10s %14s %10s %10s %8s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$crashes"
  if [ $save = 1 ]; then
    rm -rf "fuzz/seeds/$t.new" && mkdir -p "fuzz/seeds/$t.new"
    (cd fuzz && cargo +nightly fuzz cmin -s "$sanitizer" -O "$t" "$corpus/$t" -- -max_len=16384) >> "$log" 2>&1 || true
    find "fuzz/$corpus/$t" -type f -size -16k -exec cp {} "fuzz/seeds/$t.new/" \;
    rm -rf "fuzz/seeds/$t" && mv "fuzz/seeds/$t.new" "fuzz/seeds/$t"
  fi
done
