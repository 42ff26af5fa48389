"""Reads every message of a Kafka topic with the confluent-kafka package (librdkafka from
PyPI's wheel: a consumer that is not ours) and prints one JSON line per message:
{"partition": P, "offset": O, "key": "..." or null, "value_hex": "..."}.

Usage: kafka_read.py BOOTSTRAP TOPIC"""
import json
import sys

from confluent_kafka import Consumer, KafkaError, TopicPartition

bootstrap, topic = sys.argv[1:3]
c = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": "pmacct-rs-tests",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    }
)
# Read to the end each partition's fetch reports (tansu 0.6's ListOffsets watermarks are
# not the end of the partition; its fetch responses are).
partitions = set(c.list_topics(topic, timeout=20).topics[topic].partitions)
c.assign([TopicPartition(topic, p, 0) for p in partitions])
while partitions:
    m = c.poll(20)
    if m is None:
        sys.exit(f"no message within 20 s; partitions not at their end: {partitions}")
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            partitions.discard(m.partition())
            continue
        sys.exit(f"{m.error()}")
    key = m.key().decode() if m.key() is not None else None
    print(json.dumps({"partition": m.partition(), "offset": m.offset(), "key": key,
                      "value_hex": m.value().hex()}))
c.close()
