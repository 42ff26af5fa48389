#!/usr/bin/env bash
# Benchmark (not a test): flows lost on loopback while flowsend offers IPFIX at rising rates,
# ours against Debian's nfacctd 1.7.7, same socket buffer (nfacctd_pipe_size), 5-tuple print.
#   scripts/bench-nfacctd-live.sh [seconds=10] [rates="250000 500000 1000000 2000000 4000000"]
# Each record counts one packet, so the print output's packet total is the flows accounted;
# lost = sent - accounted. Prints one line per daemon and rate, and the first rate with loss.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/sbin/nfacctd >/dev/null || { echo "missing /usr/sbin/nfacctd: apt-get install -y pmacct" >&2; exit 1; }
seconds="${1:-10}"
rates="${2:-250000 500000 1000000 2000000 4000000}"
work="${BENCH_DIR:-target/bench-nfacctd-live}"
mkdir -p "$work"
work=$(realpath "$work")
cargo build --release -q -p pmacct-daemon --bin nfacctd --bin flowsend
bin=$(realpath target/release)
pipe=$(sysctl -n net.core.rmem_max)
port=23455

run() { # daemon rate -> "daemon rate sent accounted lost loss%"
  local daemon=$1 rate=$2 out="$work/$1-$2.csv" log="$work/$1-$2.log"
  rm -f "$out" "$log"
  # A port no earlier run still holds (1.7.7 may still be writing its last purge).
  port=$((port + 1))
  while ss -Hlun "sport = :$port" | grep -q .; do port=$((port + 1)); done
  cat > "$work/$daemon.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
nfacctd_pipe_size: $pipe
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto
print_output[p]: csv
print_output_file[p]: $out
print_refresh_time[p]: 3600
print_cache_entries[p]: 131071
plugin_buffer_size: 65536
plugin_pipe_size: 268435456
logfile: $log
CONF
  local exe="$bin/nfacctd"
  [ "$daemon" = pmacct-1.7.7 ] && exe=/usr/sbin/nfacctd
  "$exe" -f "$work/$daemon.conf" >/dev/null 2>&1 &
  local pid=$!
  # Ready when the port is bound.
  for _ in $(seq 100); do ss -Hlun "sport = :$port" | grep -q . && break; sleep 0.1; done
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$daemon did not start: $(tail -1 "$log")" >&2
    return 1
  fi
  local sent
  sent=$("$bin/flowsend" "127.0.0.1:$port" "$rate" "$seconds" | awk '{print $2}')
  sleep 1
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  local accounted
  accounted=$(awk -F, 'NR>1 {p+=$6} END {print p+0}' "$out" 2>/dev/null || echo 0)
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
