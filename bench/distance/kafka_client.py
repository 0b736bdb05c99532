"""Kafka side of bench/distance.sh, through confluent-kafka.

  topics BOOT PARTITIONS NAME ...   creates topics
  delete BOOT NAME ...              deletes topics
  count BOOT NAME                   records in a topic (end - start offsets)
  baseline BOOT SRC DST N           the usual replay script: consume from the
                                    start, produce key, value and headers to
                                    DST; prints "moved seconds"
"""
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

cmd, boot, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if cmd == "topics":
    admin = AdminClient({"bootstrap.servers": boot})
    parts = int(args[0])
    for f in admin.create_topics([NewTopic(t, parts, 1) for t in args[1:]]).values():
        f.result()
elif cmd == "delete":
    admin = AdminClient({"bootstrap.servers": boot})
    for f in admin.delete_topics(args).values():
        try:
            f.result()
        except Exception:
            pass
elif cmd == "count":
    c = Consumer({"bootstrap.servers": boot, "group.id": "count-" + uuid.uuid4().hex})
    md = c.list_topics(args[0], timeout=10).topics[args[0]]
    total = 0
    for p in md.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(args[0], p), timeout=10)
        total += hi - lo
    c.close()
    print(total)
elif cmd == "baseline":
    src, dst, n = args[0], args[1], int(args[2])
    t0 = time.monotonic()
    # noida-db answers a fetch with whole partitions whatever its size limit:
    # a larger receive limit lets the loop read them.
    c = Consumer({"bootstrap.servers": boot, "group.id": "replay-" + uuid.uuid4().hex, "auto.offset.reset": "earliest",
                  "receive.message.max.bytes": 1000000000})
    p = Producer({"bootstrap.servers": boot})
    c.subscribe([src])
    done = 0
    while done < n:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        while True:
            try:
                p.produce(dst, m.value(), key=m.key(), headers=m.headers())
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
        done += 1
    p.flush()
    c.commit(asynchronous=False)
    c.close()
    print(done, time.monotonic() - t0)
