'use strict';
// The bench's handlers on Bun's and Deno's own servers (Bun.serve, Deno.serve), for
// `npm run bench -- --peers`: `bun bench/peer-server.js bun <handler> <certDir> <key-type>` or
// `deno run -A bench/peer-server.js deno <handler> <certDir> <key-type>`. Prints `ready <port>`.
// Bun's and Deno's node:https run bench/server.js itself.

const [runtime, handlerName, certDir, keyType = 'ecdsa'] = (globalThis.Deno ? Deno.args : process.argv.slice(2));
const read = (name) => (globalThis.Deno ? Deno.readTextFileSync(`${certDir}/${name}`) : require('node:fs').readFileSync(`${certDir}/${name}`, 'utf8'));
const key = read(`${keyType}.key`);
const cert = read(`${keyType}.crt`);
const MiB = new Uint8Array(1024 * 1024).fill(0x78);

const handlers = {
  hello: () => new Response('Hello, Secure World!', { headers: { 'Content-Type': 'text/plain' } }),
  bytes: () => new Response(MiB, { headers: { 'Content-Type': 'application/octet-stream' } }),
  echo: (req) => new Response(req.body, { headers: { 'Content-Type': 'application/octet-stream' } }),
};
const handler = handlers[handlerName];
if (!handler) throw new Error(`no peer handler for ${handlerName}`);

if (runtime === 'deno') {
  Deno.serve({ port: 0, hostname: '127.0.0.1', key, cert, onListen: ({ port }) => console.log(`ready ${port}`) }, handler);
} else {
  // idleTimeout (seconds, at most 255) keeps idle connections open through the memory row.
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', tls: { key, cert }, idleTimeout: 255, fetch: handler });
  console.log(`ready ${server.port}`);
}
