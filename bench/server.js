'use strict';
// One benchmark server: `node bench/server.js <rhttps|node> <scenario> <certDir>`.
// Prints `ready <port>` once listening. Both implementations run the same handler.

const fs = require('node:fs');
const path = require('node:path');

const [impl, scenario, certDir] = process.argv.slice(2);
const https = impl === 'rhttps' ? require('..') : require('node:https');
const options = {
  key: fs.readFileSync(path.join(certDir, 'key.pem')),
  cert: fs.readFileSync(path.join(certDir, 'cert.pem')),
};

const handlers = {
  hello: (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('Hello, Secure World!');
  },
};

const handler = handlers[scenario];
if (!handler) throw new Error(`unknown scenario ${scenario}`);
const server = https.createServer(options, handler);
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
