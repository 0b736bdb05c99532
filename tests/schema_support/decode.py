#!/usr/bin/env python3
"""Reads bodies back with the reference libraries, to check what dlq wrote.

Each line of standard input is a body in base64; each line of output is
its value as JSON. Framed bodies (the Confluent wire format) are read by
confluent-kafka's AvroDeserializer, ProtobufDeserializer and
JSONDeserializer against the registry (the test double); plain bodies by
fastavro (with the corpus's .avsc files) or by the protobuf classes of the
corpus's .proto files. Avro bytes are written one code point a byte, as
Avro's JSON encoding does, decimals and dates as text; Protobuf through
json_format, the canonical proto3 JSON.

Usage: decode.py avro|protobuf|json-schema [--registry URL] [--message shop.v1.Order]
"""

import argparse
import base64
import datetime
import decimal
import io
import json
import sys
import uuid

import fastavro
from google.protobuf import json_format

import fixtures


def without_logical_types(schema):
    """The schema with its logical types left off: values as their underlying type."""
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(s) for s in schema]
    return schema


def plain_json(v):
    if isinstance(v, (bytes, bytearray)):
        return v.decode("latin-1")
    if isinstance(v, (decimal.Decimal, uuid.UUID)):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    raise TypeError(f"cannot show {type(v)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("format")
    ap.add_argument("--registry")
    ap.add_argument("--message", default="shop.v1.Order")
    a = ap.parse_args()

    from confluent_kafka.serialization import MessageField, SerializationContext
    ctx = SerializationContext("t", MessageField.VALUE)
    sr = None
    if a.registry:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        sr = SchemaRegistryClient({"url": a.registry})

    if a.format == "avro":
        if sr:
            from confluent_kafka.schema_registry.avro import AvroDeserializer
            de = AvroDeserializer(sr)
            read = lambda b: de(b, ctx)
        else:
            named = {}
            load = lambda n: without_logical_types(json.loads(fixtures.read(n)))
            fastavro.parse_schema(load("item.avsc"), named_schemas=named)
            parsed = fastavro.parse_schema(load("order.avsc"), named_schemas=named)
            read = lambda b: fastavro.schemaless_reader(io.BytesIO(b), parsed)
    elif a.format == "protobuf":
        order_pb2, _ = fixtures.proto_classes()
        cls = order_pb2.Order
        for part in a.message.split(".")[3:]:
            cls = getattr(cls, part)
        if a.message.endswith("Refund"):
            cls = order_pb2.Refund
        if sr:
            from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
            de = ProtobufDeserializer(cls, None, sr)
            read = lambda b: json_format.MessageToDict(de(b, ctx))
        else:
            read = lambda b: json_format.MessageToDict(cls.FromString(b))
    else:
        from confluent_kafka.schema_registry.json_schema import JSONDeserializer
        de = JSONDeserializer(None, schema_registry_client=sr)
        read = lambda b: de(b, ctx)

    for line in sys.stdin:
        line = line.strip()
        if line:
            print(json.dumps(read(base64.b64decode(line)), default=plain_json, ensure_ascii=False))


if __name__ == "__main__":
    main()
