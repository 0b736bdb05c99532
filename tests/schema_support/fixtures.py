#!/usr/bin/env python3
"""Schema-encoded messages made by Confluent's own serializers.

Registers the schemas of tests/corpus/schema/ with a registry (the test
double, registry.py) as a producer's deployment would, then serializes
sample values with confluent-kafka's AvroSerializer, ProtobufSerializer and
JSONSerializer (the Confluent wire format), and plain Avro (fastavro) and
plain Protobuf bytes for the local-schema cases. Prints one JSON object a
line: name, format, framed, schema_id, subject, message_type, the value as
dlq must show it (Protobuf through json_format, the canonical proto3 JSON),
and the bytes in base64.

Usage: fixtures.py REGISTRY_URL [--user U --password P] [--prefix P] [--ca PEM]
(--prefix makes the subjects unique to one test run).
"""

import argparse
import base64
import decimal
import importlib
import json
import os
import subprocess
import sys
import tempfile

from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format
import fastavro

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus", "schema")


def read(name):
    with open(os.path.join(CORPUS, name)) as f:
        return f.read()


def latin1(b):
    """Bytes as Avro's JSON encoding writes them: one code point per byte."""
    return b.decode("latin-1")


def proto_classes():
    """Python classes for the corpus .proto files, made by protoc (grpc_tools)."""
    from grpc_tools import protoc
    import importlib.resources

    out = tempfile.mkdtemp(prefix="dlq-proto-")
    wkt = str(importlib.resources.files("grpc_tools") / "_proto")
    src = os.path.join(CORPUS, "proto")
    rc = protoc.main(["protoc", f"-I{src}", f"-I{wkt}", f"--python_out={out}",
                      "shop/v1/common.proto", "shop/v1/order.proto"])
    if rc != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    return importlib.import_module("shop.v1.order_pb2"), importlib.import_module("shop.v1.common_pb2")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--ca", help="CA certificate (PEM) of an HTTPS registry")
    a = ap.parse_args()
    conf = {"url": a.url}
    if a.ca:
        conf["ssl.ca.location"] = a.ca
    if a.user:
        conf["basic.auth.user.info"] = f"{a.user}:{a.password}"
    sr = SchemaRegistryClient(conf)
    # The serializers get a client of their own: one that never saw the
    # registrations, so it asks the registry as a producer elsewhere would.
    ser_sr = SchemaRegistryClient(conf)
    p = a.prefix
    out = []

    def emit(name, fmt, data, value, framed=True, subject=None, message_type=None):
        out.append({
            "name": name,
            "format": fmt,
            "framed": framed,
            "schema_id": int.from_bytes(data[1:5], "big") if framed else None,
            "subject": subject,
            "message_type": message_type,
            "value": value,
            "base64": base64.b64encode(data).decode(),
        })

    # --- Avro, with a reference to another subject's named type.
    item_subject = f"{p}shop.Item"
    order_subject = f"{p}orders-avro-value"
    item_v = sr.register_schema(item_subject, Schema(read("item.avsc"), "AVRO"))
    item_ver = sr.lookup_schema(item_subject, Schema(read("item.avsc"), "AVRO")).version
    refs = [SchemaReference("shop.Item", item_subject, item_ver)]
    sr.register_schema(order_subject, Schema(read("order.avsc"), "AVRO", refs))
    avro_ser = AvroSerializer(ser_sr, None, conf={"auto.register.schemas": False, "use.latest.version": True})
    ctx = SerializationContext(order_subject[: -len("-value")], MessageField.VALUE)
    amount = decimal.Decimal("1234.50")
    unscaled = int(amount.scaleb(2))
    amount_bytes = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    base = {
        "order_id": 9000000001, "customer": "Ada Lovelace", "total": 42.5,
        "status": "PAID", "tags": ["vip", "éclair"], "counts": {"a": 1, "b": -2},
        "created_at": 1795772571123, "day": 20780, "amount": amount,
        "id": "6f1c3b2a-9d8e-4f00-8a11-2b3c4d5e6f70", "raw": b"\x00\xff\x10a",
        "hash": b"\xde\xad\xbe\xef", "items": [{"sku": "A-7", "qty": 2}],
        "ratio": 0.25, "flag": True,
    }
    cases = [
        ("avro-order-card", dict(base, note="leave at door", payment={"last4": "4242"})),
        ("avro-order-null-union", dict(base, note=None, payment=None, tags=[], counts={}, items=[])),
        ("avro-order-string-branch", dict(base, note="x", payment="invoice", customer="Grace Hopper")),
        ("avro-order-long-branch", dict(base, payment=7, order_id=-5)),
    ]
    for name, v in cases:
        data = avro_ser(v, ctx)
        expect = dict(v)
        expect["amount"] = latin1(amount_bytes)
        expect["raw"] = latin1(v["raw"])
        expect["hash"] = latin1(v["hash"])
        # Field order as the schema has it.
        order = [f["name"] for f in json.loads(read("order.avsc"))["fields"]]
        expect = {k: expect.get(k) for k in order}
        emit(name, "avro", data, expect, subject=order_subject)

    # Plain Avro (no registry, no framing), for --avro-schema.
    named = {}
    fastavro.parse_schema(json.loads(read("item.avsc")), named_schemas=named)
    parsed = fastavro.parse_schema(json.loads(read("order.avsc")), named_schemas=named)
    for name, v in cases[:2]:
        import io
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, v)
        expect = next(o for o in out if o["name"] == name)["value"]
        emit("plain-" + name, "avro", buf.getvalue(), expect, framed=False)

    # --- Protobuf: .proto text registered with its references, as the registry holds it.
    order_pb2, common_pb2 = proto_classes()
    common_subject = f"{p}shop/v1/common.proto"
    sr.register_schema(common_subject, Schema(read("proto/shop/v1/common.proto"), "PROTOBUF"))
    common_ver = sr.lookup_schema(common_subject, Schema(read("proto/shop/v1/common.proto"), "PROTOBUF")).version
    proto_subject = f"{p}orders-proto-value"
    sr.register_schema(proto_subject, Schema(read("proto/shop/v1/order.proto"), "PROTOBUF",
                                             [SchemaReference("shop/v1/common.proto", common_subject, common_ver)]))
    pctx = SerializationContext(proto_subject[: -len("-value")], MessageField.VALUE)
    pconf = {"auto.register.schemas": False, "use.latest.version": True, "use.deprecated.format": False}
    order = order_pb2.Order(
        order_id=9000000001, customer_name="Ada Lovelace",
        total=common_pb2.Money(currency="EUR", units=4250), status=common_pb2.STATUS_PAID,
        tags=["vip", "éclair"], raw=b"\x00\xff", card_last4="4242", weight=1.5,
        lines=[order_pb2.Order.Line(sku="A-7", qty=18446744073709551615)],
    )
    order.counts["a"] = 3
    order.created_at.FromMilliseconds(1795772571123)
    order.coupon.value = "WINTER"
    for name, msg, cls in [
        ("proto-order", order, order_pb2.Order),
        ("proto-order-empty", order_pb2.Order(), order_pb2.Order),
        ("proto-refund", order_pb2.Refund(order_id=7, reason="damaged"), order_pb2.Refund),
    ]:
        ser = ProtobufSerializer(cls, ser_sr, conf=pconf)
        data = ser(msg, pctx)
        emit(name, "protobuf", data, json_format.MessageToDict(msg), subject=proto_subject,
             message_type=cls.DESCRIPTOR.full_name)
    # A nested type (message indexes [0, 0]): the Python serializer only looks
    # up top-level types, so the framing comes from its own SchemaId code.
    from confluent_kafka.schema_registry.common.protobuf import _create_index_array
    from confluent_kafka.schema_registry.common.serde import SchemaId
    line = order_pb2.Order.Line(sku="B-2", qty=1)
    proto_id = next(o for o in out if o["name"] == "proto-order")["schema_id"]
    frame = SchemaId("PROTOBUF", proto_id, None, _create_index_array(line.DESCRIPTOR)).id_to_bytes()
    emit("proto-line-nested", "protobuf", frame + line.SerializeToString(), json_format.MessageToDict(line),
         subject=proto_subject, message_type="shop.v1.Order.Line")
    # Plain Protobuf bytes, for --proto / --descriptor-set.
    emit("plain-proto-order", "protobuf", order.SerializeToString(), json_format.MessageToDict(order),
         framed=False, message_type="shop.v1.Order")

    # --- JSON Schema.
    json_subject = f"{p}orders-json-value"
    sr.register_schema(json_subject, Schema(read("order.schema.json"), "JSON"))
    jser = JSONSerializer(read("order.schema.json"), ser_sr,
                          conf={"auto.register.schemas": False, "use.latest.version": True})
    jctx = SerializationContext(json_subject[: -len("-value")], MessageField.VALUE)
    for name, v in [("json-order", {"order_id": 77, "customer": "Ada Lovelace", "total": 9.5})]:
        emit(name, "json-schema", jser(v, jctx), v, subject=json_subject)

    for o in out:
        print(json.dumps(o, ensure_ascii=False))


if __name__ == "__main__":
    main()
