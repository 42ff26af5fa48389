#!/usr/bin/env bash
# Benchmark (not a test): one scrape of a prometheus plugin holding 10,000 series per metric
# (plus `other`), timed with curl 20 times after the capture is read. Prints the fastest,
# median and slowest scrape and the body size.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
cargo build --release --bins -q
pcap="$work/prom-200000-30000.pcap"
[ -f "$pcap" ] || target/release/pcapgen "$pcap" 200000 30000 600
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/prom.conf" <<CONF
pcap_savefile: $(realpath "$pcap")
pcap_savefile_wait: true
plugins: prometheus[p]
aggregate: src_host
prometheus_listen[p]: 127.0.0.1:$port
prometheus_max_series[p]: 10000
CONF
target/release/pmacctd -f "$work/prom.conf" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
# Until the whole capture is counted.
until curl -s "http://127.0.0.1:$port/metrics" | grep -q '^pmacct_daemon_received_packets_total 200000$'; do sleep 0.2; done
series=$(curl -s "http://127.0.0.1:$port/metrics" | grep -c '^pmacct_bytes_total{')
for i in $(seq 20); do
  curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$port/metrics"
done | sort -n > "$work/prom.times"
echo "series per metric: $series"
awk 'NR==1{min=$1} {t[NR]=$1; size=$2} END {printf "scrape: fastest %.1f ms, median %.1f ms, slowest %.1f ms, %d bytes\n", min*1000, t[int((NR+1)/2)]*1000, t[NR]*1000, size}' "$work/prom.times"
