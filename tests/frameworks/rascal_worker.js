// A rascal subscriber whose handler always fails, with rascal's own two
// recovery strategies: queue PREFIX.fwd forwards its failures to the
// dead-letter exchange (rascal adds CC "<queue>.<routing key>"), queue
// PREFIX.rep republishes each failure twice, then nacks it into the same
// exchange. Prints "ready" once subscribed; ends itself after 60 s.
// Usage: node rascal_worker.js AMQP_URL PREFIX
const Rascal = require('rascal');

const [url, p] = process.argv.slice(2);
const dlx = `${p}.dlx`;
const config = {
  vhosts: {
    '/': {
      connection: { url },
      exchanges: { [`${p}.x`]: { type: 'direct' }, [dlx]: { type: 'topic' } },
      queues: {
        [`${p}.fwd`]: {},
        [`${p}.rep`]: { options: { arguments: { 'x-dead-letter-exchange': dlx } } },
        [`${p}.dlq`]: {},
      },
      bindings: [
        `${p}.x[fwd] -> ${p}.fwd`,
        `${p}.x[rep] -> ${p}.rep`,
        `${dlx}[#] -> ${p}.dlq`,
      ],
      publications: { dead: { exchange: dlx } },
      subscriptions: {
        fwd: { queue: `${p}.fwd`, prefetch: 10 },
        rep: { queue: `${p}.rep`, prefetch: 10 },
      },
    },
  },
};

const recovery = {
  fwd: [{ strategy: 'forward', publication: 'dead', attempts: 1 }, { strategy: 'nack' }],
  rep: [{ strategy: 'republish', attempts: 2 }, { strategy: 'nack' }],
};

(async () => {
  const broker = await Rascal.BrokerAsPromised.create(Rascal.withDefaultConfig(config));
  broker.on('error', (err) => console.error('broker error', err.message));
  for (const name of ['fwd', 'rep']) {
    const sub = await broker.subscribe(name);
    sub.on('message', (message, content, ackOrNack) => {
      const err = new Error(`Order ${content.order} not found`);
      err.code = 'E_ORDER_NOT_FOUND';
      ackOrNack(err, recovery[name]);
    });
    sub.on('error', (err) => console.error('subscription error', err.message));
  }
  console.log('ready');
  setTimeout(() => broker.shutdown().then(() => process.exit(0)), 60000).unref();
  setTimeout(() => process.exit(0), 61000);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
