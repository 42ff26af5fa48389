#!/usr/bin/env bash
# Benchmark (not a test): our sfacctd against Debian's sfacctd 1.7.7 on the same capture of
# sFlow v5 datagrams, read REPLAY times (pcap_savefile_replay), 5-tuple print to a csv file.
#   scripts/bench-sfacctd.sh [packets=2000000] [replay=5]
# The datagrams are made here: Debian's pmacctd reads a generated packet capture with its
# sfprobe plugin (every packet sampled: sampling_rate 1) sending to a loopback port that
# tcpdump records. Prints wall seconds, CPU seconds, peak memory (max RSS) and flow samples per
# CPU second of one run each. Needs root (for tcpdump), pmacct, tcpdump, GNU time and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
need tcpdump /usr/sbin/pmacctd /usr/sbin/sfacctd /usr/bin/time bc
packets="${1:-2000000}"
replay="${2:-5}"
work="${BENCH_DIR:-target/bench-sfacctd}"
mkdir -p "$work"
cargo build --release --bins -q
work=$(realpath "$work")
bin=$(realpath target/release)
port=21343

pcap="$work/sflow-$packets.pcap"
if [ ! -f "$pcap" ]; then
  packets_pcap="$work/packets-$packets.pcap"
  [ -f "$packets_pcap" ] || "$bin/pcapgen" "$packets_pcap" "$packets" 20000 600 >/dev/null
  tcpdump -i lo -s 0 -B 65536 -w "$pcap.tmp" "udp dst port $port" 2>/dev/null &
  dump=$!
  sleep 1
  cat > "$work/sfprobe.conf" <<CONF
pcap_savefile: $packets_pcap
plugins: sfprobe
sfprobe_receiver: 127.0.0.1:$port
sampling_rate: 1
plugin_buffer_size: 10240
plugin_pipe_size: 10240000
CONF
  /usr/sbin/pmacctd -f "$work/sfprobe.conf" >/dev/null 2>&1 || true
  sleep 2
  kill "$dump"; wait "$dump" 2>/dev/null || true
  mv "$pcap.tmp" "$pcap"
fi
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
ours=$(measure ours "$bin/sfacctd" -f "$work/collect.conf")
theirs=$(measure pmacct /usr/sbin/sfacctd -f "$work/collect.conf")
samples=$(grep -o 'flow_samples=[0-9]*' "$work/ours.stderr" | tail -1 | cut -d= -f2)
echo "== sFlow v5: $(du -h "$pcap" | cut -f1), read $replay times: $samples flow samples"
compare samples "$samples" "$ours" "$theirs"
