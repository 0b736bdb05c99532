// An sqs-consumer whose handler always throws, on QUEUE_URL; the queue's
// redrive policy moves each message to its DLQ after its receives. The
// visibility of a failed message is ended at once so it comes back quickly.
// Prints "ready" once polling; ends itself after 60 s.
// Usage: node sqs_consumer_worker.js ENDPOINT QUEUE_URL
const { Consumer } = require('sqs-consumer');
const { SQSClient } = require('@aws-sdk/client-sqs');

const [endpoint, queueUrl] = process.argv.slice(2);
const consumer = Consumer.create({
  queueUrl,
  sqs: new SQSClient({ endpoint, region: process.env.AWS_DEFAULT_REGION || 'us-east-1' }),
  waitTimeSeconds: 1,
  pollingWaitTimeMs: 50,
  terminateVisibilityTimeout: true,
  handleMessage: async (message) => {
    throw new Error(`cannot handle ${message.Body}`);
  },
});
consumer.on('error', (err) => console.error('error', err.message));
consumer.on('processing_error', () => {});
consumer.start();
console.log('ready');
setTimeout(() => {
  consumer.stop();
  process.exit(0);
}, 60000);
