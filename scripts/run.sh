#!/usr/bin/env bash
# Builds pmacctd and runs it with examples/default.conf (or the config given as $1):
# per-host totals of this machine's traffic, printed every 10 seconds. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
# libpcap's headers, and make for librdkafka (the kafka plugin), built from source.
missing=()
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || missing+=(libpcap-dev)
command -v make >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "missing: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
cargo build --release --bins
config="${1:-examples/default.conf}"
if [ "$(id -u)" = 0 ]; then
  exec target/release/pmacctd -f "$config"
else
  exec sudo target/release/pmacctd -f "$config"
fi
