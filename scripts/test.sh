#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, end-to-end, differential and live tests.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for bin in pmacctd tshark systemd-analyze logrotate setpriv prometheus influxd tcpreplay; do command -v "$bin" >/dev/null || missing+=("$bin"); done
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || missing+=(libpcap-dev)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}; install with: sudo apt-get install -y libpcap-dev pmacct tshark iproute2 postgresql mariadb-server systemd logrotate util-linux prometheus influxdb tcpreplay" >&2
  exit 1
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
