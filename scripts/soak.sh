#!/usr/bin/env bash
# Soak (not a test): MINUTES (default 60) of mixed traffic replayed into a network namespace
# at PPS packets per second (default 2000), captured by pmacctd with a bounded memory plugin,
# a print plugin with 1-minute bins and an sqlite3 plugin with 1-minute bins. Each minute it
# prints the daemon's RSS, open fds and threads; at the end it compares every plugin's totals
# with what was sent and fails when they differ, when fds grew or when RSS grew more than
# 8 MiB after minute 3 (each purging plugin has its spare table by then). Needs root, tcpreplay and sqlite3. Traffic stays in the two
# namespaces it makes.
#   scripts/soak.sh [minutes] [pps]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-60}"
pps="${2:-2000}"
cargo build -q --release -p pmacct-daemon -p pmacct-client
bin=target/release
work=$(mktemp -d /tmp/pmacct-soak.XXXXXX)
cap=pmsoakc$$
send=pmsoaks$$
cleanup() {
  [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null || true
  ip netns del "$cap" 2>/dev/null || true
  ip netns del "$send" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$cap"
ip netns add "$send"
ip link add cap0 netns "$cap" type veth peer name send0 netns "$send"
for pair in "$cap cap0" "$send send0"; do
  set -- $pair
  ip netns exec "$1" sysctl -q -w "net.ipv6.conf.$2.disable_ipv6=1"
  ip netns exec "$1" ip link set "$2" up
done

# One minute of traffic per loop: TCP, UDP, ICMP, IPv4 and IPv6, some VLAN-tagged, 300 hosts.
per_loop=$((pps * 60))
"$bin/pcapgen" "$work/mix.pcap" "$per_loop" 300 60 >/dev/null

cat > "$work/soak.conf" <<EOF
pcap_interface: cap0
plugins: memory[m], print[p], sqlite3[s]
aggregate: src_host, dst_host, proto
imt_path[m]: $work/m.pipe
imt_mem_pools_number[m]: 16
imt_mem_pools_size[m]: 1048576
print_output[p]: csv
print_history[p]: 1m
print_refresh_time[p]: 60
print_output_file[p]: $work/print-%Y%m%d-%H%M.csv
print_output_file_append[p]: true
sql_db[s]: $work/soak.db
sql_history[s]: 1m
sql_refresh_time[s]: 60
sql_optimize_clauses[s]: true
EOF
ip netns exec "$cap" "$bin/pmacctd" -f "$work/soak.conf" 2> "$work/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -S "$work/m.pipe" ] && break; sleep 0.1; done

sample() { # minute -> one line
  local rss fds threads
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")
  fds=$(ls "/proc/$daemon/fd" | wc -l)
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$daemon/status")
  printf '%6s %12s %6s %8s\n' "$1" "$rss" "$fds" "$threads"
  echo "$1 $rss $fds" >> "$work/samples"
}
printf '%6s %12s %6s %8s\n' minute "rss KiB" fds threads
sample 0
ip netns exec "$send" tcpreplay -q -i send0 --pps="$pps" --loop="$minutes" "$work/mix.pcap" > "$work/replay.log" 2>&1 &
replay=$!
for m in $(seq "$minutes"); do
  sleep 60
  sample "$m"
done
wait "$replay"
sent=$(awk '/Successful packets:/ {print $3}' "$work/replay.log")
drops=$(( $(ip netns exec "$send" cat /sys/class/net/send0/statistics/tx_dropped) + $(ip netns exec "$cap" cat /sys/class/net/cap0/statistics/rx_dropped) ))

# Wait until the daemon has seen every delivered packet (its SIGUSR1 stats line).
for _ in $(seq 300); do
  kill -USR1 "$daemon"
  sleep 0.1
  seen=$(grep -o 'received_packets=[0-9]* kernel_dropped_packets=[0-9]*' "$work/daemon.log" | tail -1 | grep -o '[0-9]*' | awk '{s += $1} END {print s + 0}')
  [ "${seen:-0}" -ge $((sent - drops)) ] && break
done
memory=$("$bin/pmacct" -p "$work/m.pipe" -s -O csv | awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "PACKETS") c = i; next} {s += $c} END {print s + 0}')
overflow=$("$bin/pmacct" -p "$work/m.pipe" -t | awk '/^overflow_packets:/ {print $2}')
kill -TERM "$daemon"
wait "$daemon" || true
daemon=
kernel=$(grep -o 'kernel_dropped_packets=[0-9]*' "$work/daemon.log" | tail -1 | cut -d= -f2)
print=$(cat "$work"/print-*.csv | awk -F, '$1 == "SRC_IP" {for (i = 1; i <= NF; i++) if ($i == "PACKETS") c = i; next} {s += $c} END {print s + 0}')
sql=$(sqlite3 "$work/soak.db" 'SELECT coalesce(sum(packets), 0) FROM acct_v9' 2>/dev/null || sqlite3 "$work/soak.db" 'SELECT sum(packets) FROM acct')
expected=$((sent - drops - ${kernel:-0}))

echo
echo "sent $sent, wire drops $drops, kernel drops ${kernel:-0}: $expected to account for"
echo "memory: $memory stored + ${overflow:-0} overflow; print: $print; sqlite3: $sql"
# The baseline is minute 3: by then each purging plugin has made its spare table (at its
# second purge) and the table holds every key of the looped traffic.
base=$(( minutes < 3 ? minutes : 3 ))
read -r _ rss1 fds1 < <(awk -v b="$base" '$1 == b' "$work/samples")
read -r _ rssmax < <(awk -v b="$base" '$1 > b && $2 > m {m = $2} END {print 0, m + 0}' "$work/samples")
[ "$rssmax" -gt 0 ] || rssmax=$rss1
read -r _ _ fdsend < <(tail -1 "$work/samples")
echo "RSS at minute $base: $rss1 KiB, highest after: $rssmax KiB; fds at minute $base: $fds1, at the end: $fdsend"
fail=0
[ $((memory + ${overflow:-0})) -eq "$expected" ] || { echo "FAIL: memory plugin total"; fail=1; }
[ "$print" -eq "$expected" ] || { echo "FAIL: print plugin total"; fail=1; }
[ "$sql" -eq "$expected" ] || { echo "FAIL: sqlite3 plugin total"; fail=1; }
[ "$fdsend" -le "$fds1" ] || { echo "FAIL: fds grew"; fail=1; }
[ "$rssmax" -le $((rss1 + 8192)) ] || { echo "FAIL: RSS grew"; fail=1; }
[ $fail = 0 ] && echo "PASS (files in $work)"
exit $fail
