"""NATS side of bench/distance.sh, through nats-py.

  streams NAME SUBJECT ...    (re)creates each stream, allow_direct on
  delete NAME ...             deletes streams
  count NAME                  messages in a stream
  baseline URL DLQ N          get, publish to the dlq-original-subject
                              header's subject, delete, one at a time;
                              prints "moved seconds"
"""
import asyncio
import sys
import time

import nats


async def main(cmd, url, args):
    nc = await nats.connect(url)
    js = nc.jetstream()
    if cmd == "streams":
        for name, subject in zip(args[::2], args[1::2]):
            try:
                await js.delete_stream(name)
            except Exception:
                pass
            await js.add_stream(name=name, subjects=[subject], allow_direct=True)
    elif cmd == "delete":
        for name in args:
            try:
                await js.delete_stream(name)
            except Exception:
                pass
    elif cmd == "count":
        print((await js.stream_info(args[0])).state.messages)
    elif cmd == "baseline":
        dlq = args[0]
        info = await js.stream_info(dlq)
        moved, t0 = 0, time.monotonic()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            m = await js.get_msg(dlq, seq, direct=True)
            hdrs = dict(m.headers or {})
            to = hdrs.get("dlq-original-subject")
            for k in ("Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp", "Nats-Expected-Stream"):
                hdrs.pop(k, None)
            await js.publish(to, m.data, headers=hdrs)
            await js.delete_msg(dlq, seq)
            moved += 1
        print(moved, time.monotonic() - t0)
    await nc.close()


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
