// fauxqs (an SQS emulator from npm) on 127.0.0.1 only: its own CLI binds
// every interface, so this builds its app and listens on loopback.
// Usage: node fauxqs-server.mjs PATH/TO/fauxqs/dist/app.js PORT
import { pathToFileURL } from "node:url";

const [appPath, port] = process.argv.slice(2);
const { buildApp } = await import(pathToFileURL(appPath).href);
const app = buildApp({ logger: false });
await app.listen({ port: Number(port), host: "127.0.0.1" });
console.log(`fauxqs listening on 127.0.0.1:${port}`);
