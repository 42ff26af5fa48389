#!/usr/bin/env bash
# Benchmark (not a test): what names and GeoIP cost the capture. pmacctd reads a generated
# 5,000,000-packet capture with a print plugin, names off and on: the usual generated capture
# (pcapgen, 1,000 hosts: no names in it), and one where 4 packets in 100 name a server (pcapgen
# ... names: a DNS answer with a CNAME chain, a TLS ClientHello, an HTTP request, a QUIC
# Initial), the rest data to those servers:
#   off    aggregate: src_host, dst_host, proto
#   names  + src_host_name, dst_host_name, and names_learned_file (every payload looked at)
#   geoip  + dst_host_country, dst_as (GeoIP2-City-Test and GeoLite2-ASN-Test, when present)
# and prints wall/CPU/RSS per configuration (the median of ROUNDS=3 runs) and the ratios to `off`.
#   scripts/bench-names.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
need /usr/bin/time bc
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
cargo build --release --no-default-features -p pmacct-daemon --bin pmacctd --bin pcapgen -q
plain="$work/names-5m.pcap"
[ -f "$plain" ] || target/release/pcapgen "$plain" 5000000 1000 600 >/dev/null
mix="$work/names-mix-5m.pcap"
[ -f "$mix" ] || target/release/pcapgen "$mix" 5000000 0 0 1700000000 names >/dev/null
mmdb=../shared/testdata/mmdb
# The machine's speed varies from run to run (about ±20 % here): each configuration is run
# ROUNDS times, interleaved with the others by the caller, and the median is reported.
rounds=${ROUNDS:-3}
run() { # NAME AGGREGATE EXTRA (reads $pcap): the median of $rounds measures
  local cfg="$work/names-$1.conf" results=()
  printf 'pcap_savefile: %s\nplugins: print\nprint_output: csv\nprint_output_file: %s\naggregate: %s\n%b' \
    "$pcap" "$work/names-$1.csv" "$2" "$3" > "$cfg"
  for _ in $(seq "$rounds"); do
    results+=("$(measure "$1" target/release/pmacctd -f "$cfg")")
  done
  printf '%s\n' "${results[@]}" | sort -k2 -n | sed -n "$(( (rounds + 1) / 2 ))p"
}
base="src_host, dst_host, proto"
table() { # OFF LINE...
  local off=$1
  printf '%-12s %8s %8s %12s %14s\n' run wall cpu "max RSS MiB" "packets/CPU s"
  for line in "$@"; do
    read -r name wall cpu kb <<<"$line"
    printf '%-12s %8.2f %8.2f %12.1f %14.0f\n' "$name" "$wall" "$cpu" "$(echo "$kb / 1024" | bc -l)" \
      "$(echo "5000000 / $cpu" | bc -l)"
  done
  read -r _ ow oc _ <<<"$off"
  for line in "${@:2}"; do
    read -r name wall cpu _ <<<"$line"
    printf '%s/off: %.3f wall, %.3f CPU\n' "$name" "$(echo "$wall / $ow" | bc -l)" "$(echo "$cpu / $oc" | bc -l)"
  done
}
names_on="$base, src_host_name, dst_host_name"
learned="names_learned_file: $work/names-learned\n"
pcap=$plain
echo "== the usual generated capture (no names in it)"
off=$(run off "$base" "")
names=$(run names "$names_on" "$learned")
lines=("$off" "$names")
if [ -f "$mmdb/GeoIP2-City-Test.mmdb" ]; then
  lines+=("$(run geoip "$base, dst_host_country, dst_as" \
    "geoipv2_file: $mmdb/GeoIP2-City-Test.mmdb\ngeoipv2_asn_file: $mmdb/GeoLite2-ASN-Test.mmdb\n")")
fi
table "${lines[@]}"
pcap=$mix
echo "== 4 packets in 100 name a server"
off=$(run mix-off "$base" "")
names=$(run mix-names "$names_on" "$learned")
table "$off" "$names"
grep -ho 'names_learned=[0-9]* names_evicted=[0-9]* names_refused=[0-9]* names_cached=[0-9]*' "$work/mix-names.stderr" | tail -1
