"""RabbitMQ side of bench/distance.sh, through pika (an independent client).

  baseline HOST DLQ ORIGIN   the hand-written re-drive: basic.get, publish
                             on a confirm channel, ack; prints "moved seconds"
  check QUEUE N              reads every message back (without acking) and
                             checks the count and each 1 KiB body
"""
import sys
import time

import pika

cmd, host = sys.argv[1], sys.argv[2]
# TCP_NODELAY: without it each publish waits out delayed ACKs (40 ms).
params = pika.ConnectionParameters(host=host, port=5672, credentials=pika.PlainCredentials("guest", "guest"), tcp_options={"TCP_NODELAY": 1})
conn = pika.BlockingConnection(params)
ch = conn.channel()
if cmd == "baseline":
    dlq, origin = sys.argv[3], sys.argv[4]
    ch.confirm_delivery()
    moved, t0 = 0, time.monotonic()
    while True:
        method, props, body = ch.basic_get(dlq)
        if method is None:
            break
        ch.basic_publish("", origin, body, props, mandatory=True)
        ch.basic_ack(method.delivery_tag)
        moved += 1
    print(moved, time.monotonic() - t0)
elif cmd == "check":
    queue, n = sys.argv[3], int(sys.argv[4])
    ch.basic_qos(prefetch_count=1000)
    seen = set()
    for method, props, body in ch.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        i = int(body[:12])
        assert body == b"%012d " % i + b"x" * 1010, body[:40]
        assert props.delivery_mode == 2, props
        seen.add(i)
        if len(seen) == n:
            break
    ch.cancel()
    missing = n - len(seen & set(range(n)))
    print(f"{len(seen)} distinct bodies of {n}, {missing} missing")
    sys.exit(1 if missing else 0)
conn.close()
