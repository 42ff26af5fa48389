#!/usr/bin/env bash
# Benchmark (not a test): records per second the amqp plugin publishes for one large purge,
# ours (one record per message, and records packed into 1 MB messages) against Debian's
# pmacctd 1.7.7, to a throwaway RabbitMQ in a network namespace (on 127.0.0.1:5672 there: the
# port 1.7.7 always uses), with a durable queue bound so the broker keeps every message.
#   scripts/bench-amqp.sh [packets=1300000]     (1.3 M packets: about 1.05 M distinct 5-tuples)
# Each figure is the whole run's wall time (reading, aggregating, publishing; 1.7.7's 2 s
# sleep before reading a file subtracted) and the records the queue holds after it.
# Needs root, rabbitmq-server, python3-pika, GNU time and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
need /usr/lib/rabbitmq/bin/rabbitmq-server /usr/bin/python3 /usr/bin/time bc
packets="${1:-1300000}"
work="${BENCH_DIR:-target/bench-amqp}"
mkdir -p "$work"
cargo build --release --bins -q
work=$(realpath "$work")
bin=$(realpath target/release)
pcap="$work/bench-$packets.pcap"
[ -f "$pcap" ] || "$bin/pcapgen" "$pcap" "$packets" 1000 600 >/dev/null
cat "$pcap" >/dev/null

ns=pbenchmq
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
rm -rf "$work/rmq" && mkdir -p "$work/rmq/home" "$work/rmq/mnesia" "$work/rmq/log"
echo "[]." > "$work/rmq/plugins"; : > "$work/rmq/env.conf"
rmq_env=(HOME="$work/rmq/home" RABBITMQ_CONF_ENV_FILE="$work/rmq/env.conf"
  RABBITMQ_NODENAME=b@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672
  RABBITMQ_DIST_PORT=25672 ERL_EPMD_PORT=4369 ERL_EPMD_ADDRESS=127.0.0.1
  RABBITMQ_MNESIA_BASE="$work/rmq/mnesia" RABBITMQ_LOG_BASE="$work/rmq/log"
  RABBITMQ_ENABLED_PLUGINS_FILE="$work/rmq/plugins")
ip netns exec "$ns" env "${rmq_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server >/dev/null 2>&1 &
cleanup() {
  ip netns exec "$ns" env "${rmq_env[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -n b@localhost stop >/dev/null 2>&1 || true
  ip netns exec "$ns" env "${rmq_env[@]}" epmd -kill >/dev/null 2>&1 || true
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
until ip netns exec "$ns" grep -q "0100007F:1628 00000000:0000 0A" /proc/net/tcp; do sleep 0.2; done

# A durable queue bound to the exchange, emptied before each run; its count after it.
queue() { # purge | count
  ip netns exec "$ns" /usr/bin/python3 - "$1" <<'PY'
import sys, pika
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
ch = c.channel()
ch.exchange_declare(exchange="pmacct", exchange_type="direct")
q = ch.queue_declare(queue="bench", durable=True)
ch.queue_bind(queue="bench", exchange="pmacct", routing_key="acct")
if sys.argv[1] == "purge":
    ch.queue_purge("bench")
else:
    print(q.method.message_count)
PY
}

conf() { # extra -> config
  cat <<CONF
pcap_savefile: $pcap
plugins: amqp[b]
aggregate[b]: src_host, dst_host, src_port, dst_port, proto
amqp_host[b]: 127.0.0.1
amqp_refresh_time[b]: 3600
plugin_buffer_size: 10240000
plugin_pipe_size: 1024000000
$1
CONF
}

run() { # name program config-extra
  conf "$3" > "$work/$1.conf"
  queue purge
  local line
  line=$(measure "$1" ip netns exec "$ns" "$2" -f "$work/$1.conf")
  echo "$line $(queue count)"
}

echo "== amqp: $(du -h "$pcap" | cut -f1) capture, $packets packets, one purge at the end"
printf '%-18s %8s %8s %12s %10s %10s %16s\n' run wall cpu "max RSS MiB" messages records "records/s (wall)"
rows=""
for spec in "ours:$bin/pmacctd:amqp_spool_file[b]: $work/spool" \
            "ours-1MB:$bin/pmacctd:amqp_spool_file[b]: $work/spool
amqp_multi_values[b]: 1000000" \
            "pmacct:/usr/sbin/pmacctd:"; do
  name=${spec%%:*}; rest=${spec#*:}; prog=${rest%%:*}; extra=${rest#*:}
  read -r n wall cpu kb messages <<<"$(run "$name" "$prog" "$extra")"
  [ "$name" = pmacct ] && wall=$(echo "$wall - 2" | bc -l)
  # Records published: the sum over every purge (1.7.7 purges each time its cache fills).
  records=$(grep -o 'QN: [0-9]*' "$work/$name.stderr" | awk '{s += $2} END {print s + 0}')
  [ -n "$records" ] || records=$messages
  printf '%-18s %8.2f %8.2f %12.1f %10s %10s %16.0f\n' "$n" "$wall" "$cpu" "$(echo "$kb / 1024" | bc -l)" \
    "$messages" "$records" "$(echo "${records:-0} / $wall" | bc -l)"
done
