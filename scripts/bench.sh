#!/usr/bin/env bash
# Benchmark (not a test): our pmacctd against a bare libpcap read loop (the floor), Debian's
# pmacctd 1.7.7 and nfdump's nfpcapd on the same generated captures; then the memory plugin.
#   scripts/bench.sh [packets=5000000]
#   BENCH_CASES="nobins stress memory" (default: all three)
# Prints wall seconds, CPU seconds and peak memory (max RSS) of one run each. Needs pmacct,
# nfdump and GNU time (apt-get install pmacct nfdump time).
set -euo pipefail
cd "$(dirname "$0")/.."
packets="${1:-5000000}"
cases="${BENCH_CASES:-nobins stress memory}"
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
cargo build --release --bins -q
work=$(realpath "$work")
bin=$(realpath target/release)

capture() { # hosts -> path of a generated capture
  local pcap="$work/bench-$packets-$1.pcap"
  [ -f "$pcap" ] || "$bin/pcapgen" "$pcap" "$packets" "$1" 600
  cat "$pcap" >/dev/null # into the page cache, so every run reads it from memory
  echo "$pcap"
}

measure() { # name command... -> "name wall cpu rss_kib"
  local name=$1; shift
  local log="$work/$name.time"
  /usr/bin/time -f "%e %U %S %M" -o "$log" "$@" >/dev/null 2>"$work/$name.stderr" || true
  read -r wall user sys kb < "$log"
  echo "$name $wall $(echo "$user + $sys" | bc -l) $kb"
}

table() { # floor_line lines...
  local floor_wall
  floor_wall=$(echo "$1" | awk '{print $2}')
  printf '%-22s %8s %8s %12s %10s\n' run wall cpu "max RSS MiB" "x floor"
  for line in "$@"; do
    read -r name wall cpu kb <<<"$line"
    printf '%-22s %8.2f %8.2f %12.1f %10.2f\n' "$name" "$wall" "$cpu" "$(echo "$kb / 1024" | bc -l)" \
      "$(echo "$wall / $floor_wall" | bc -l)"
  done
}

print_conf() { # pcap output history? -> config text
  cat <<CONF
pcap_savefile: $1
plugins: print[p]
print_output[p]: csv
print_output_file[p]: $2
aggregate[p]: src_host, dst_host, src_port, dst_port, proto
! pmacct: large buffers so it loses less while reading a file as fast as it can
plugin_buffer_size: 10240000
plugin_pipe_size: 1024000000
CONF
  if [ -n "${3:-}" ]; then
    printf 'print_history[p]: 1m\nprint_history_roundoff[p]: m\nprint_refresh_time[p]: 60\n'
  fi
}

rows_packets() { cat "$@" 2>/dev/null | awk -F, '$1 != "SRC_IP" {s += $6} END {print s + 0}'; }

if [[ " $cases " == *" nobins "* ]]; then
  pcap=$(capture 50)
  print_conf "$pcap" "$work/nobins.csv" > "$work/nobins.conf"
  echo "== 5-tuple, print csv, no bins: $pcap ($packets packets, 50 hosts)"
  floor=$(measure floor "$bin/pcapread" "$pcap")
  ours=$(measure pmacct-rs "$bin/pmacctd" -f "$work/nobins.conf")
  ours_packets=$(rows_packets "$work/nobins.csv")
  rm -f "$work/nobins.csv"
  ref=$(measure pmacctd-1.7.7 /usr/sbin/pmacctd -f "$work/nobins.conf")
  ref_packets=$(rows_packets "$work/nobins.csv")
  rm -rf "$work/nfcapd" && mkdir -p "$work/nfcapd"
  nf=$(measure nfpcapd-r nfpcapd -r "$pcap" -w "$work/nfcapd")
  table "$floor" "$ours" "$ref" "$nf"
  echo "packets in the output: pmacct-rs $ours_packets, pmacctd $ref_packets (of $packets)"
  echo "(pmacctd sleeps 2 s before reading a file; that is included in its wall time)"
  echo
fi

if [[ " $cases " == *" stress "* ]]; then
  pcap=$(capture 500)
  rm -rf "$work/stress" && mkdir -p "$work/stress"
  print_conf "$pcap" "$work/stress/out-%Y%m%d-%H%M.csv" bins > "$work/stress.conf"
  echo "== stress: 5-tuple, 1-minute bins, 500 hosts (~400k new keys a minute): $pcap"
  floor=$(measure floor "$bin/pcapread" "$pcap")
  ours=$(measure pmacct-rs "$bin/pmacctd" -f "$work/stress.conf")
  ours_packets=$(rows_packets "$work"/stress/out-*.csv)
  rm -rf "$work/stress" && mkdir -p "$work/stress"
  ref=$(measure pmacctd-1.7.7 /usr/sbin/pmacctd -f "$work/stress.conf")
  ref_packets=$(rows_packets "$work"/stress/out-*.csv)
  table "$floor" "$ours" "$ref"
  echo "packets in the output: pmacct-rs $ours_packets, pmacctd $ref_packets (of $packets)"
  echo
fi

if [[ " $cases " == *" memory "* ]]; then
  n=$((packets * 2 / 5))
  pcap="$work/bench-mem-$n.pcap"
  [ -f "$pcap" ] || "$bin/pcapgen" "$pcap" "$n" 1000 600
  sock="$work/mem.pipe"
  cat > "$work/mem.conf" <<CONF
pcap_savefile: $pcap
pcap_savefile_wait: true
plugins: memory[m]
imt_path[m]: $sock
imt_mem_pools_number: 0
aggregate[m]: src_host, dst_host, src_port, dst_port, proto
CONF
  echo "== memory plugin: 5-tuple table from $pcap"
  "$bin/pmacctd" -f "$work/mem.conf" 2>"$work/mem.stderr" &
  pid=$!
  for _ in $(seq 600); do grep -q "finished reading" "$work/mem.stderr" && break; sleep 0.1; done
  entries=$(sed -n 's/.*finished reading.*: \([0-9]*\) entries.*/\1/p' "$work/mem.stderr")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  start=$(date +%s.%N)
  "$bin/pmacct" -p "$sock" -s > "$work/mem.out"
  secs=$(echo "$(date +%s.%N) - $start" | bc -l)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf 'entries %s, daemon RSS %.1f MiB, %.0f bytes per entry (RSS / entries)\n' \
    "$entries" "$(echo "$rss / 1024" | bc -l)" "$(echo "$rss * 1024 / $entries" | bc -l)"
  printf 'pmacct -s on %s entries: %.2f s\n' "$entries" "$secs"
fi
