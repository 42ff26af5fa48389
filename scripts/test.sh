#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, end-to-end, differential and live tests.
# As root it first installs the Debian packages of scripts/test-packages.txt that are missing
# (one apt-get update, one apt-get install); otherwise it names the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' scripts/test-packages.txt)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing the missing test packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "missing: ${missing[*]}; install with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi
# Built or installed once per machine, reused after: the tansu Kafka-protocol broker (crates.io)
# and a Python venv with chdb (ClickHouse in-process) and confluent-kafka (a consumer that is
# not ours), for the kafka plugin's scale-out tests (docs/scaling.md).
cache="${PMACCT_RS_TEST_CACHE:-$HOME/.cache/pmacct-rs-test}"
if ! "$cache/venv/bin/python3" -c 'import chdb, confluent_kafka' 2>/dev/null; then
  /usr/bin/python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q chdb==4.4.0 confluent-kafka==2.16.2
fi
if ! "$cache/bin/tansu" --version >/dev/null 2>&1; then
  echo "building the tansu broker once for this machine (about 15 minutes on 2 cores)" >&2
  cargo install tansu --version 0.6.0 --features dynostore --locked --root "$cache" -q
fi
export PMACCT_RS_TEST_CACHE="$cache"
# The web page's browser test: playwright-core, pinned by its lockfile; it drives Debian's
# chromium and never downloads a browser.
(cd crates/daemon/tests/web && npm ci --ignore-scripts --no-audit --no-fund --silent)
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The small build (no web page) still builds.
cargo check -p pmacct-daemon --no-default-features
cargo test --workspace
