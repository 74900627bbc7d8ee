'use strict';
// One benchmark server: `node bench/server.js <rhttps|node> <handler> <certDir> <key-type>`.
// Prints `ready <port>` once listening. Both implementations run the same handlers.

const fs = require('node:fs');
const path = require('node:path');

const [impl, handlerName, certDir, keyType = 'ecdsa'] = process.argv.slice(2);
const https = impl === 'rhttps' ? require('..') : require('node:https');
const options = {
  key: fs.readFileSync(path.join(certDir, `${keyType}.key`)),
  cert: fs.readFileSync(path.join(certDir, `${keyType}.crt`)),
};

const MiB = Buffer.alloc(1024 * 1024, 'x');

function expressApp() {
  const app = require('express')();
  app.get('/', (req, res) => res.send('Hello, Secure World!'));
  return app;
}

const handlers = {
  hello: () => (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('Hello, Secure World!');
  },
  express: expressApp,
  // GET 1 MiB.
  bytes: () => (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': MiB.length });
    res.end(MiB);
  },
  // POST echoed back, streamed.
  echo: () => (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    req.pipe(res);
  },
};

const make = handlers[handlerName];
if (!make) throw new Error(`unknown handler ${handlerName}`);
const server = https.createServer(options, make());
// Idle connections must outlive the memory measurement.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 120_000;
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
