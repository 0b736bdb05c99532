"""A FastStream subscriber on RabbitMQ whose handler always raises: with
AckPolicy.REJECT_ON_ERROR the message is rejected without requeue, and the
queue dead-letters it into QUEUE.dlq through the default exchange. Prints
"ready" once subscribed; ends itself after 60 s.

Usage: python faststream_worker.py AMQP_URL QUEUE
"""

import asyncio
import logging
import sys

from faststream import AckPolicy, FastStream
from faststream.rabbit import RabbitBroker, RabbitQueue

url, queue = sys.argv[1:3]
# Each failure is expected.
logging.disable(logging.CRITICAL)
broker = RabbitBroker(url, logger=None)
app = FastStream(broker, logger=None)
work = RabbitQueue(
    queue,
    durable=True,
    arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{queue}.dlq"},
)


@broker.subscriber(work, ack_policy=AckPolicy.REJECT_ON_ERROR)
async def charge(order: dict) -> None:
    raise ValueError(f"Order {order['order']} not found")


@app.after_startup
async def ready() -> None:
    print("ready", flush=True)


async def main() -> None:
    task = asyncio.create_task(app.run())
    await asyncio.sleep(60)
    app.exit()
    await task


asyncio.run(main())
