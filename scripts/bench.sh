#!/usr/bin/env bash
# Benchmark (not a test): our pmacctd against Debian's pmacctd 1.7.7 on the same generated
# capture and configuration, with a plain libpcap read loop as the floor.
#   scripts/bench.sh [packets=5000000]       (BENCH_HOSTS=500 for the high-cardinality stress case)
# Prints packets/s and peak memory (max RSS) of each run. Needs pmacct and GNU time
# (apt-get install pmacct time).
set -euo pipefail
cd "$(dirname "$0")/.."
packets="${1:-5000000}"
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
cargo build --release --bins -q
pcap="$work/bench-$packets.pcap"
hosts="${BENCH_HOSTS:-50}"
pcap="$work/bench-$packets-$hosts.pcap"
[ -f "$pcap" ] || target/release/pcapgen "$pcap" "$packets" "$hosts" 600
conf="$work/bench.conf"
cat > "$conf" <<CONF
pcap_savefile: $pcap
plugins: print[p]
print_output[p]: csv
print_output_file[p]: $work/out-%Y%m%d-%H%M.csv
print_history[p]: 1m
print_history_roundoff[p]: m
aggregate[p]: src_host, dst_host, src_port, dst_port, proto
! pmacct: large buffers so it does not lose data while reading a file as fast as it can
plugin_buffer_size: 10240000
plugin_pipe_size: 1024000000
CONF

measure() { # name command...
  local name=$1; shift
  local log="$work/$name.time"
  /usr/bin/time -f "%e %M" -o "$log" "$@" >/dev/null 2>"$work/$name.stderr"
  read -r secs kb < "$log"
  echo "$name $secs $kb"
}

rm -f "$work"/out-*.csv
floor=$(measure floor target/release/pcapread "$pcap")
ours=$(measure pmacct-rs target/release/pmacctd -f "$conf")
ours_rows=$(cat "$work"/out-*.csv | grep -vc '^SRC_IP' || true)
ours_packets=$(cat "$work"/out-*.csv | awk -F, '$1 != "SRC_IP" {s += $6} END {print s}')
rm -f "$work"/out-*.csv
ref=$(measure pmacctd-1.7.7 /usr/sbin/pmacctd -f "$conf")
ref_packets=$(cat "$work"/out-*.csv | awk -F, '$1 != "SRC_IP" {s += $6} END {print s}')

echo
echo "capture: $pcap ($packets packets)"
printf '%-16s %10s %14s %12s %14s\n' run seconds packets/s "max RSS KiB" "packets out"
for line in "$floor" "$ours" "$ref"; do
  read -r name secs kb <<<"$line"
  # pmacctd sleeps 2 s before reading a file; that is taken out of its rate.
  eff=$secs; [ "$name" = pmacctd-1.7.7 ] && eff=$(echo "$secs - 2" | bc -l)
  rate=$(echo "$packets / $eff" | bc)
  out="-"; [ "$name" = pmacct-rs ] && out=$ours_packets; [ "$name" = pmacctd-1.7.7 ] && out=$ref_packets
  printf '%-16s %10s %14s %12s %14s\n' "$name" "$secs" "$rate" "$kb" "$out"
done
echo "(pmacctd's 2 s start-up sleep is excluded from its packets/s; its max RSS is its largest process)"
