#!/usr/bin/env bash
# Benchmark (not a test): the web page's Usage view over 30 days of 1-minute bins for 50
# devices (2,160,000 SQLite rows, scripts/bench-report.sh's table): the time of each API call
# the page makes, cold (first) and cached (again), and the daemon's memory.
#   scripts/bench-web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
[ -f "$work/report-30d.db" ] || scripts/bench-report.sh >/dev/null
cargo build --release --bins -q
db="$work/web-30d.db"
cp "$work/report-30d.db" "$db"
rm -f "$db-wal" "$db-shm"
# A database written in the last second is never cached (a write may be under way): the copy
# is dated as the plugin would have left it.
touch -d "1 minute ago" "$db"
# An empty capture file: the daemon reads nothing, stays up (-W) and serves the page.
python3 -c "
import struct,sys
open(sys.argv[1],'wb').write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1))" "$work/one.pcap"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/web.conf" <<CONF
pcap_savefile: $work/one.pcap
pcap_savefile_wait: true
plugins: sqlite3[db]
aggregate[db]: src_host, dst_host, src_mac, dst_mac
sql_db[db]: $db
sql_history[db]: 1m
web_listen: $port
web_local_net: 192.168.1.0/24
CONF
target/release/pmacctd -f "$work/web.conf" 2>"$work/web.log" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# The plugin has just opened the database (its -wal file is new): let it settle, as a page
# opened on a running daemon finds it.
sleep 2
call() {
  curl -s -o /dev/null -w "%{http_code} %{time_total}s %{size_download} bytes" "http://127.0.0.1:$port$1"
}
month="from=2026-11-01&to=2026-11-30"
echo "rows: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM acct').fetchone()[0])" "$db")"
echo "usage (by=all, the month), cold:   $(call "/api/v1/usage?by=all&$month")"
echo "devices (same period), cached:     $(call "/api/v1/devices?$month")"
echo "usage again, cached:               $(call "/api/v1/usage?by=all&$month")"
echo "usage by day, cold:                $(call "/api/v1/usage?by=day&$month")"
echo "device detail (days, hours, peers): $(call "/api/v1/device/192.168.1.10?$month")"
echo "page (/), gzip:                    $(curl -s -o /dev/null -H 'Accept-Encoding: gzip' -w '%{http_code} %{time_total}s %{size_download} bytes' "http://127.0.0.1:$port/")"
echo "daemon: $(grep -E 'VmHWM|Threads' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
