#!/usr/bin/env bash
# Benchmark (not a test): our nfacctd against Debian's nfacctd 1.7.7 on the same captures of
# NetFlow v9 and IPFIX exports, each read REPLAY times (pcap_savefile_replay), 5-tuple print.
#   scripts/bench-nfacctd.sh [packets=2000000] [replay=60]
# The exports are made here: Debian's pmacctd reads a generated packet capture with its nfprobe
# plugin (v9, then IPFIX) sending to a loopback port that tcpdump records. Prints wall seconds,
# CPU seconds, peak memory (max RSS) and flows per CPU second of one run each. Needs root (for
# tcpdump), pmacct, tcpdump and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
need tcpdump /usr/sbin/pmacctd /usr/sbin/nfacctd /usr/bin/time bc
packets="${1:-2000000}"
replay="${2:-60}"
work="${BENCH_DIR:-target/bench-nfacctd}"
mkdir -p "$work"
cargo build --release --bins -q
work=$(realpath "$work")
bin=$(realpath target/release)

# Flow exports of a generated capture, made by Debian's pmacctd nfprobe (version 9 or 10).
exports() {
  local version=$1 port=$((21000 + $1))
  local out="$work/exports-v$version-$packets.pcap"
  [ -f "$out" ] && { echo "$out"; return; }
  local packets_pcap="$work/packets-$packets.pcap"
  [ -f "$packets_pcap" ] || "$bin/pcapgen" "$packets_pcap" "$packets" 20000 600 >/dev/null
  tcpdump -i lo -s 0 -B 65536 -w "$out.tmp" "udp dst port $port" 2>/dev/null &
  local dump=$!
  sleep 1
  cat > "$work/nfprobe.conf" <<CONF
pcap_savefile: $packets_pcap
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:$port
nfprobe_version: $version
nfprobe_timeouts: tcp=5:udp=5:maxlife=60:expint=1
plugin_buffer_size: 10240
plugin_pipe_size: 10240000
CONF
  /usr/sbin/pmacctd -f "$work/nfprobe.conf" >/dev/null 2>&1 || true
  sleep 2
  kill "$dump"; wait "$dump" 2>/dev/null || true
  mv "$out.tmp" "$out"
  echo "$out"
}


for version in 9 10; do
  pcap=$(exports "$version")
  cat "$pcap" >/dev/null
  cat > "$work/collect.conf" <<CONF
pcap_savefile: $pcap
pcap_savefile_replay: $replay
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto
print_output[p]: csv
print_output_file[p]: $work/out-%s.csv
print_cache_entries[p]: 4000000
CONF
  ours=$(measure "ours-v$version" "$bin/nfacctd" -f "$work/collect.conf")
  theirs=$(measure "pmacct-v$version" /usr/sbin/nfacctd -f "$work/collect.conf")
  flows=$(grep -o 'flow_records=[0-9]*' "$work/ours-v$version.stderr" | tail -1 | cut -d= -f2)
  echo "== NetFlow v$version exports: $(du -h "$pcap" | cut -f1), read $replay times: $flows flow records"
  compare flows "$flows" "$ours" "$theirs"
done
