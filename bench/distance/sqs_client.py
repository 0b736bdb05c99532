"""SQS side of bench/distance.sh, through boto3.

  queues ENDPOINT NAME ...       (re)creates empty standard queues
  delete ENDPOINT NAME ...       deletes queues
  depth ENDPOINT NAME            visible + in-flight messages
  baseline ENDPOINT DLQ SRC      the hand-written redrive script: receive one,
                                 send it, delete it; prints "moved seconds"
"""
import sys
import time

import boto3

cmd, ep, args = sys.argv[1], sys.argv[2], sys.argv[3:]
s = boto3.client("sqs", endpoint_url=ep)
url = lambda name: s.get_queue_url(QueueName=name)["QueueUrl"]
if cmd == "queues":
    for name in args:
        try:
            s.delete_queue(QueueUrl=url(name))
        except Exception:
            pass
        s.create_queue(QueueName=name)
elif cmd == "delete":
    for name in args:
        try:
            s.delete_queue(QueueUrl=url(name))
        except Exception:
            pass
elif cmd == "depth":
    a = s.get_queue_attributes(QueueUrl=url(args[0]), AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    print(int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]))
elif cmd == "baseline":
    dlq, src = url(args[0]), url(args[1])
    moved, t0 = 0, time.monotonic()
    while True:
        got = s.receive_message(QueueUrl=dlq, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        if not got:
            break
        m = got[0]
        s.send_message(QueueUrl=src, MessageBody=m["Body"])
        s.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
        moved += 1
    # The last, empty receive waited a second for nothing.
    print(moved, time.monotonic() - t0 - 1)
