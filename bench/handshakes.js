'use strict';
// Load generator for full TLS handshakes: `node bench/handshakes.js <port> <seconds> <parallel>`.
// Every connection is new and offers no session to resume (Debian's wrk resumes sessions),
// sends one request with Connection: close and waits for the server to close. Prints the
// number of completed handshakes and the negotiated protocol.

const tls = require('node:tls');

const [port, seconds, parallel] = process.argv.slice(2).map(Number);
const deadline = Date.now() + seconds * 1000;
let done = 0;
let failed = 0;
let protocol = '';

function one() {
  if (Date.now() >= deadline) return Promise.resolve();
  return new Promise((resolve) => {
    const sock = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' }, () => {
      protocol = sock.getProtocol();
      if (sock.isSessionReused()) failed++;
      sock.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    sock.on('data', () => {});
    sock.on('error', () => { failed++; });
    sock.on('close', () => { done++; resolve(); });
  }).then(one);
}

Promise.all(Array.from({ length: parallel }, one)).then(() => {
  console.log(JSON.stringify({ handshakes: done, failed, protocol }));
});
