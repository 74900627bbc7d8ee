'use strict';
// One benchmark server: `node bench/server.js <rhttps|node> <handler> <certDir> <key-type> <h1|h2>`.
// Prints `ready <port> startup-cpu-ms <ms>` once listening: the CPU the process spent up to then
// (Node's own start, the same for both, plus loading the module, createServer and listen).
// Both implementations run the same handlers; for h2, rhttps offers HTTP/2 (allowHTTP2) and
// the reference is node:http2's createSecureServer.

const fs = require('node:fs');
const path = require('node:path');

const [impl, handlerName, certDir, keyType = 'ecdsa', protocol = 'h1'] = process.argv.slice(2);
const options = {
  key: fs.readFileSync(path.join(certDir, `${keyType}.key`)),
  cert: fs.readFileSync(path.join(certDir, `${keyType}.crt`)),
};
let createServer;
if (impl === 'rhttps') {
  createServer = require('..').createServer;
  if (protocol === 'h2') options.allowHTTP2 = true;
} else {
  createServer = protocol === 'h2' ? require('node:http2').createSecureServer : require('node:https').createServer;
}

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
const server = createServer(options, make());
// Idle connections must outlive the memory measurement.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 120_000;
if (protocol === 'h2' && impl === 'node') server.setTimeout(0);
server.listen(0, '127.0.0.1', () => {
  const { user, system } = process.cpuUsage();
  console.log(`ready ${server.address().port} startup-cpu-ms ${((user + system) / 1000).toFixed(1)}`);
});
process.on('SIGTERM', () => process.exit(0));
