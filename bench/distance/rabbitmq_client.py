"""RabbitMQ side of bench/distance.sh, through pika (an independent client).

  baseline HOST DLQ ORIGIN   the hand-written re-drive: basic.get, publish
                             on a confirm channel, ack; prints "moved seconds"
  counts QUEUE...            exact ready counts (passive declare)
  sample QUEUE K SIZE        reads the first K messages without acking (they
                             go back when the connection closes) and checks
                             each body byte for byte ("%012d " + x's, SIZE
                             bytes), persistence, and that they are distinct
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
elif cmd == "counts":
    print(" ".join(str(ch.queue_declare(q, passive=True).method.message_count) for q in sys.argv[3:]))
elif cmd == "sample":
    queue, k, size = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    # Nothing is acked: the prefetch must take the whole sample.
    ch.basic_qos(prefetch_count=min(k, 65535))
    seen, in_order, last = set(), True, -1
    # A deep queue paged out to disk can take a while to start delivering.
    for method, props, body in ch.consume(queue, inactivity_timeout=120):
        if method is None:
            break
        i = int(body[:12])
        assert body == b"%012d " % i + b"x" * (size - 13), body[:40]
        assert props.delivery_mode == 2, props
        in_order &= i > last
        last = i
        seen.add(i)
        if len(seen) >= k:
            break
    ch.cancel()
    ok = len(seen) >= k
    print(f"{len(seen)} bodies checked byte for byte, distinct, persistent, {'in' if in_order else 'not in'} order")
    if not ok:
        print(f"sample: only {len(seen)} of {k} messages came", file=sys.stderr)
    sys.exit(0 if ok else 1)
conn.close()
