#!/usr/bin/env bash
# Benchmark (not a test): flows lost on loopback while flowsend offers IPFIX at rising rates,
# ours against Debian's nfacctd 1.7.7, same socket buffer (nfacctd_pipe_size), 5-tuple print.
#   scripts/bench-nfacctd-live.sh [seconds=10] [rates="250000 500000 1000000 2000000 4000000"]
#     [distinct_flows=65536]
# Each record counts one packet, so the print output's packet total is the flows accounted;
# lost = sent - accounted. Prints one line per daemon and rate, and the first rate with loss.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/sbin/nfacctd >/dev/null || { echo "missing /usr/sbin/nfacctd: apt-get install -y pmacct" >&2; exit 1; }
seconds="${1:-10}"
rates="${2:-250000 500000 1000000 2000000 4000000}"
distinct="${3:-65536}"
work="${BENCH_DIR:-target/bench-nfacctd-live}"
mkdir -p "$work"
work=$(realpath "$work")
cargo build --release -q -p pmacct-daemon --bin nfacctd --bin flowsend
bin=$(realpath target/release)
pipe=$(sysctl -n net.core.rmem_max)
port=23455

run() { # daemon rate -> "daemon rate sent accounted lost loss%"
  local daemon=$1 rate=$2 log="$work/$1-$2.log"
  rm -f "$work/$daemon-$rate"-*.csv "$log"
  # A port no earlier run still holds.
  port=$((port + 1))
  while ss -Hlun "sport = :$port" | grep -q .; do port=$((port + 1)); done
  # Purges every 2 s into a file per purge: 1.7.7 handles SIGTERM late (it blocks signals
  # while it waits for datagrams), so the totals are read from the files, not from an exit.
  cat > "$work/$daemon.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
nfacctd_pipe_size: $pipe
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto
print_output[p]: csv
print_output_file[p]: $work/$daemon-$rate-%s.csv
print_refresh_time[p]: 2
plugin_buffer_size: 65536
plugin_pipe_size: 268435456
logfile: $log
CONF
  local exe="$bin/nfacctd"
  [ "$daemon" = pmacct-1.7.7 ] && exe=/usr/sbin/nfacctd
  "$exe" -f "$work/$daemon.conf" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do ss -Hlun "sport = :$port" | grep -q . && break; sleep 0.1; done
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$daemon did not start: $(tail -1 "$log")" >&2
    return 1
  fi
  local sent
  sent=$("$bin/flowsend" "127.0.0.1:$port" "$rate" "$seconds" 30 "$distinct" | awk '{print $2}')
  # Accounted: the packets of every purge file, once that total holds for 4 s (at most 5 min).
  local accounted=-1 same=0
  for _ in $(seq 300); do
    sleep 1
    local now
    now=$(cat "$work/$daemon-$rate"-*.csv 2>/dev/null | awk -F, '$6 ~ /^[0-9]+$/ {p+=$6} END {print p+0}')
    if [ "$now" = "$accounted" ]; then same=$((same + 1)); else same=0; fi
    accounted=$now
    [ "$same" -ge 4 ] && break
  done
  pkill -9 -P "$pid" 2>/dev/null || true
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local lost=$((sent - accounted))
  printf '%-14s %9s %10s %10s %10s %7.3f%%\n' "$daemon" "$rate" "$sent" "$accounted" "$lost" \
    "$(echo "100 * $lost / $sent" | bc -l)"
}

printf '%-14s %9s %10s %10s %10s %8s\n' daemon "flows/s" sent accounted lost loss
for daemon in pmacct-rs pmacct-1.7.7; do
  for rate in $rates; do
    run "$daemon" "$rate"
  done
done
