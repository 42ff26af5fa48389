#!/usr/bin/python3
"""Decodes broker messages with the schemas pmacct-rs wrote, using Debian's python3-avro
(not our code): reads kcat's `%R%s` framing (a 4-byte big-endian length, then the payload)
from stdin, prints one JSON object per record or marker.

A message holds one or more binary records back to back; every schema starts with the
`event_type` string, which says which schema the record was written with (`purge`: the
file given; `purge_init` / `purge_close`: FILE.purge_init / FILE.purge_close).
Usage: avro_decode.py SCHEMA_FILE < kcat-output"""
import io
import json
import os
import struct
import sys

import avro.io
import avro.schema

path = sys.argv[1]
schemas = {"purge": avro.schema.parse(open(path).read())}
for event in ("purge_init", "purge_close"):
    if os.path.exists(f"{path}.{event}"):
        schemas[event] = avro.schema.parse(open(f"{path}.{event}").read())

data = sys.stdin.buffer.read()
pos = 0
messages = 0
while pos < len(data):
    (n,) = struct.unpack(">i", data[pos : pos + 4])
    payload = data[pos + 4 : pos + 4 + n]
    pos += 4 + n
    messages += 1
    buf = io.BytesIO(payload)
    while buf.tell() < len(payload):
        start = buf.tell()
        event = avro.io.BinaryDecoder(buf).read_utf8()
        buf.seek(start)
        record = avro.io.DatumReader(schemas[event]).read(avro.io.BinaryDecoder(buf))
        print(json.dumps(record))
print(f"messages={messages}", file=sys.stderr)
