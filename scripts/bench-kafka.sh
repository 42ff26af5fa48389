#!/usr/bin/env bash
# Benchmark (not a test): records per second the kafka plugin produces for one large purge,
# JSON and Avro, one record per message and packed into 1 MB messages, to a tansu broker
# (in memory, on loopback, a 3-partition topic per run). Debian's pmacctd 1.7.7 is not run:
# its librdkafka 2.0.2 cannot read tansu 0.6's ApiVersions answer.
#   scripts/bench-kafka.sh [packets=1300000]     (1.3 M packets: about 1.05 M distinct 5-tuples)
# Each figure is the whole run's wall time (reading, aggregating, producing, waiting for every
# delivery report) and the messages a consumer (confluent-kafka) then reads from the topic.
# Needs scripts/test.sh's tansu and venv, GNU time and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
need /usr/bin/time bc
cache="${PMACCT_RS_TEST_CACHE:-$HOME/.cache/pmacct-rs-test}"
[ -x "$cache/bin/tansu" ] || { echo "run scripts/test.sh first (it builds tansu)" >&2; exit 1; }
packets="${1:-1300000}"
work="${BENCH_DIR:-target/bench-kafka}"
mkdir -p "$work"
cargo build --release --bins -q
work=$(realpath "$work")
bin=$(realpath target/release)
pcap="$work/bench-$packets.pcap"
[ -f "$pcap" ] || "$bin/pcapgen" "$pcap" "$packets" 1000 600 >/dev/null
cat "$pcap" >/dev/null

port=19391
"$cache/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ >/dev/null 2>&1 &
tansu=$!
trap 'kill $tansu 2>/dev/null || true' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done

count() { # topic -> messages in it
  "$cache/venv/bin/python3" - "127.0.0.1:$port" "$1" <<'PY'
import sys
from confluent_kafka import Consumer, KafkaError, TopicPartition
bootstrap, topic = sys.argv[1:3]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "enable.partition.eof": True})
parts = set(c.list_topics(topic, timeout=20).topics[topic].partitions)
c.assign([TopicPartition(topic, p, 0) for p in parts])
n = 0
while parts:
    for m in c.consume(10000, 20):
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                parts.discard(m.partition())
                continue
            sys.exit(str(m.error()))
        n += 1
print(n)
PY
}

echo "== kafka: $(du -h "$pcap" | cut -f1) capture, $packets packets, one purge at the end, to tansu"
printf '%-16s %8s %8s %12s %10s %10s %16s\n' run wall cpu "max RSS MiB" messages records "records/s (wall)"
for spec in "json:json:0" "json-1MB:json:1000000" "avro:avro:0" "avro-1MB:avro:1000000"; do
  IFS=: read -r name output mv <<<"$spec"
  "$cache/bin/tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions 3 "bench.$name" >/dev/null
  cat > "$work/$name.conf" <<CONF
pcap_savefile: $pcap
plugins: kafka[b]
aggregate[b]: src_host, dst_host, src_port, dst_port, proto
kafka_broker_host[b]: 127.0.0.1:$port
kafka_topic[b]: bench.$name
kafka_output[b]: $output
avro_schema_file[b]: $work/$name.avsc
kafka_multi_values[b]: $mv
kafka_refresh_time[b]: 3600
kafka_spool_file[b]: $work/$name.spool
plugin_buffer_size: 10240000
plugin_pipe_size: 1024000000
CONF
  [ "$output" = json ] && sed -i '/avro_schema_file/d' "$work/$name.conf"
  read -r n wall cpu kb <<<"$(measure "$name" "$bin/pmacctd" -f "$work/$name.conf")"
  records=$(grep -o 'QN: [0-9]*' "$work/$name.stderr" | awk '{s += $2} END {print s + 0}')
  messages=$(count "bench.$name")
  printf '%-16s %8.2f %8.2f %12.1f %10s %10s %16.0f\n' "$n" "$wall" "$cpu" "$(echo "$kb / 1024" | bc -l)" \
    "$messages" "$records" "$(echo "$records / $wall" | bc -l)"
done
