#!/usr/bin/env bash
# Benchmark (not a test): nfprobe's packets per second. Our pmacctd's nfprobe, Debian's
# pmacctd 1.7.7 nfprobe and softflowd each read the same generated capture and export IPFIX
# to a loopback sink (socat), with the same flow table (65,536 flows) and pmacct's default
# timeouts. Prints wall seconds, CPU seconds, peak memory and packets per CPU second of one
# run each, then ours against each of the two.
#   scripts/bench-nfprobe.sh [packets=5000000] [hosts=20000]
# Needs pmacct, softflowd, socat, GNU time and bc. pmacctd 1.7.7 sleeps 2 s before reading a
# file: that is in its wall time, not in its CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
need /usr/sbin/pmacctd softflowd socat /usr/bin/time bc
packets="${1:-5000000}"
hosts="${2:-20000}"
work="${BENCH_DIR:-target/bench-nfprobe}"
mkdir -p "$work"
cargo build --release --bins -q
work=$(realpath "$work")
bin=$(realpath target/release)
port=21995

pcap="$work/packets-$packets-$hosts.pcap"
[ -f "$pcap" ] || "$bin/pcapgen" "$pcap" "$packets" "$hosts" 600 >/dev/null
cat "$pcap" >/dev/null # into the page cache: every run reads it from memory

socat -u "UDP-RECV:$port,bind=127.0.0.1,rcvbuf=33554432" /dev/null &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT

cat > "$work/nfprobe.conf" <<CONF
pcap_savefile: $pcap
plugins: nfprobe
nfprobe_version: 10
nfprobe_receiver: 127.0.0.1:$port
nfprobe_maxflows: 65536
! pmacct: large buffers so it loses less while reading a file as fast as it can
plugin_buffer_size: 10240000
plugin_pipe_size: 1024000000
CONF
ours=$(measure ours "$bin/pmacctd" -f "$work/nfprobe.conf")
theirs=$(measure pmacct /usr/sbin/pmacctd -f "$work/nfprobe.conf")
soft=$(measure softflowd softflowd -d -c "$work/softflowd.ctl" -p "$work/softflowd.pid" -r "$pcap" -n "127.0.0.1:$port" -v 10 -m 65536)
echo "== nfprobe: $packets packets, $hosts hosts ($(du -h "$pcap" | cut -f1))"
grep -o 'records=[0-9]* .*' "$work/ours.stderr" | grep exported_flows | tail -1 || true
compare packets "$packets" "$ours" "$theirs"
compare packets "$packets" "$ours" "$soft"
