'use strict';
// Large response chunks reach the engine by reference, without a copy (lib/socket.js,
// `writev` in src/native_server.rs). What must hold, as on node:https: the bytes arrive as
// written, and a write's callback runs only once its chunk has left, so the caller may reuse
// the buffer from the callback on; HTTP/2 streams copy instead, with the same guarantee.

const test = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const https = require('node:https');
const rhttps = require('..');
const { pki, listen, close, within } = require('./helpers');

const MiB = 1024 * 1024;

function patterned(n, seed) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) % 251;
  return b;
}

// Writes each buffer and, in its callback, overwrites it: what was written before the
// callback is what the client must see.
function scribblingHandler(buffers, { cork = false } = {}) {
  return (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': buffers.reduce((n, b) => n + b.length, 0) });
    if (cork) res.socket.cork();
    let pending = buffers.length;
    for (const b of buffers) {
      const copy = Buffer.from(b);
      res.write(copy, () => {
        copy.fill(0xff);
        if (--pending === 0) res.end();
      });
    }
    if (cork) process.nextTick(() => res.socket.uncork());
  };
}

// Reads a whole response body, starting only after a pause so the server's writes back up.
function readAfterPause(body) {
  body.pause();
  return new Promise((resolve, reject) => {
    body.on('error', reject);
    setTimeout(() => {
      const chunks = [];
      body.on('data', (c) => chunks.push(c));
      body.on('end', () => resolve(Buffer.concat(chunks)));
      body.resume();
    }, 300);
  });
}

function slowGet(port) {
  return within(new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', servername: 'localhost', port, ca: pki().rootCert, agent: false },
      (res) => readAfterPause(res).then(resolve, reject));
    req.on('error', reject);
  }), 20000, 'the large response');
}

test('a large chunk written by reference arrives intact even when overwritten in its callback', async () => {
  // Far more than loopback's socket buffers hold, so most of it is still the JS buffer's own
  // memory when a too-early callback would overwrite it.
  const buffers = [patterned(24 * MiB, 1), patterned(2 * MiB, 2)];
  const server = rhttps.createServer(pki().serverOptions, scribblingHandler(buffers));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const body = await slowGet(port);
    assert.equal(body.length, 26 * MiB);
    assert.ok(body.equals(Buffer.concat(buffers)), 'the client saw bytes the callback had overwritten');
  } finally {
    await close(server);
  }
});

test('corked large chunks (writev) keep their order and contents', async () => {
  const buffers = [patterned(100, 3), patterned(16 * MiB, 4), patterned(70 * 1024, 5), patterned(10, 6), patterned(8 * MiB, 7)];
  const server = rhttps.createServer(pki().serverOptions, scribblingHandler(buffers, { cork: true }));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const body = await slowGet(port);
    assert.ok(body.equals(Buffer.concat(buffers)), 'corked chunks arrived changed or out of order');
  } finally {
    await close(server);
  }
});

test('an HTTP/2 stream copies large chunks: overwriting one in its callback does not reach the client', async () => {
  const buffers = [patterned(24 * MiB, 8)];
  const server = rhttps.createServer({ ...pki().serverOptions, allowHTTP2: true }, scribblingHandler(buffers));
  const port = await listen(server, 0, '127.0.0.1');
  const session = http2.connect(`https://localhost:${port}`, { ca: pki().rootCert });
  session.on('error', () => {});
  try {
    const req = session.request({ ':path': '/' });
    req.end();
    const body = await within(readAfterPause(req), 20000, 'the HTTP/2 response');
    assert.ok(body.equals(buffers[0]), 'the client saw bytes the callback had overwritten');
  } finally {
    session.close();
    await close(server);
  }
});
