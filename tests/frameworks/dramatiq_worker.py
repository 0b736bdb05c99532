"""A dramatiq worker whose actor always raises, on RabbitMQ: one retry, then
dramatiq nacks the message into QUEUE.XQ. `send N` enqueues N messages
through the actor; `work` runs a worker until killed, at most 60 s.

Usage: python dramatiq_worker.py AMQP_URL QUEUE send N | work
"""

import logging
import sys
import time

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

url, queue, mode = sys.argv[1:4]
# Each failure is expected; its traceback is in the message.
logging.getLogger("dramatiq").setLevel(logging.CRITICAL)
broker = RabbitmqBroker(url=url)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=queue, max_retries=1, min_backoff=10, max_backoff=100)
def charge(order_id):
    raise ValueError(f"Order {order_id} not found")


if mode == "send":
    for i in range(int(sys.argv[4])):
        charge.send(1000 + i)
    broker.close()
else:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    print("ready", flush=True)
    time.sleep(60)
    worker.stop()
