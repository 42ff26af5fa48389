#!/usr/bin/env bash
# Benchmark (not a test): what names and GeoIP cost the capture. pmacctd reads the generated
# 5,000,000-packet capture (pcapgen, 1,000 hosts) four times with a print plugin:
#   off    aggregate: src_host, dst_host, proto
#   names  + src_host_name, dst_host_name, and names_learned_file (every payload looked at)
#   geoip  + dst_host_country, dst_as (GeoIP2-City-Test and GeoLite2-ASN-Test, when present)
# and prints wall/CPU/RSS per run and the ratios to `off`.
#   scripts/bench-names.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
need /usr/bin/time bc
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
cargo build --release --no-default-features -p pmacct-daemon --bin pmacctd --bin pcapgen -q
pcap="$work/names-5m.pcap"
[ -f "$pcap" ] || target/release/pcapgen "$pcap" 5000000 1000 600 >/dev/null
mmdb=../shared/testdata/mmdb
run() { # NAME AGGREGATE EXTRA
  local cfg="$work/names-$1.conf"
  printf 'pcap_savefile: %s\nplugins: print\nprint_output: csv\nprint_output_file: %s\naggregate: %s\n%b' \
    "$pcap" "$work/names-$1.csv" "$2" "$3" > "$cfg"
  measure "$1" target/release/pmacctd -f "$cfg"
}
base="src_host, dst_host, proto"
off=$(run off "$base" "")
names=$(run names "$base, src_host_name, dst_host_name" "names_learned_file: $work/names-learned\n")
lines=("$off" "$names")
if [ -f "$mmdb/GeoIP2-City-Test.mmdb" ]; then
  lines+=("$(run geoip "$base, dst_host_country, dst_as" \
    "geoipv2_file: $mmdb/GeoIP2-City-Test.mmdb\ngeoipv2_asn_file: $mmdb/GeoLite2-ASN-Test.mmdb\n")")
fi
printf '%-8s %8s %8s %12s %14s\n' run wall cpu "max RSS MiB" "packets/CPU s"
for line in "${lines[@]}"; do
  read -r name wall cpu kb <<<"$line"
  printf '%-8s %8.2f %8.2f %12.1f %14.0f\n' "$name" "$wall" "$cpu" "$(echo "$kb / 1024" | bc -l)" \
    "$(echo "5000000 / $cpu" | bc -l)"
done
read -r _ ow oc _ <<<"$off"
for line in "${lines[@]:1}"; do
  read -r name wall cpu _ <<<"$line"
  printf '%s/off: %.3f wall, %.3f CPU\n' "$name" "$(echo "$wall / $ow" | bc -l)" "$(echo "$cpu / $oc" | bc -l)"
done
