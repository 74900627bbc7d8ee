'use strict';
// Connections that leave HTTP: 'upgrade' and 'connect' with a raw socket carrying bytes both
// ways through the engine and TLS, and the ws library serving wss:// unmodified.

const test = require('node:test');
const assert = require('node:assert/strict');
const tls = require('node:tls');
const crypto = require('node:crypto');
const { WebSocketServer, WebSocket } = require('ws');
const rhttps = require('..');
const { pki, listen, close, withServer, rawTls, within } = require('./helpers');

function connectWs(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${port}/chat`, { ca: pki().rootCert, ...opts });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const nextMessage = (ws) => new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));

test('ws serves wss://: text, binary, large messages, ping/pong and close codes', async () => {
  const server = rhttps.createServer(pki().serverOptions, (req, res) => res.end('http still works'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(`welcome ${req.socket.encrypted ? 'secure' : 'plain'}`);
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'bye') ws.close(4001, 'done');
      else ws.send(data, { binary: isBinary });
    });
  });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const ws = await connectWs(port);
    assert.equal((await nextMessage(ws)).data.toString(), 'welcome secure');
    ws.send('hello');
    assert.deepEqual(await nextMessage(ws), { data: Buffer.from('hello'), isBinary: false });
    const bin = crypto.randomBytes(1000);
    ws.send(bin);
    const echoedBin = await nextMessage(ws);
    assert.ok(echoedBin.isBinary && echoedBin.data.equals(bin));
    const big = crypto.randomBytes(8 * 1024 * 1024);
    ws.send(big);
    assert.ok((await nextMessage(ws)).data.equals(big), '8 MiB round trip');
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    ws.ping('p');
    assert.equal((await pong).toString(), 'p');
    const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.send('bye');
    assert.deepEqual(await closed, { code: 4001, reason: 'done' });
  } finally {
    wss.close();
    await close(server);
  }
});

test('ws with permessage-deflate and many concurrent sockets', async () => {
  const server = rhttps.createServer(pki().serverOptions);
  const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const clients = await Promise.all(Array.from({ length: 50 }, () => connectWs(port, { perMessageDeflate: true })));
    assert.ok(clients.every((ws) => ws.extensions.includes('permessage-deflate')));
    const replies = await Promise.all(clients.map((ws, i) => {
      const p = nextMessage(ws);
      ws.send(`message ${i} `.repeat(1000));
      return p;
    }));
    replies.forEach((r, i) => assert.equal(r.data.toString(), `message ${i} `.repeat(1000)));
    await Promise.all(clients.map((ws) => new Promise((resolve) => { ws.once('close', resolve); ws.close(); })));
  } finally {
    wss.close();
    await close(server);
  }
});

test('an upgrade listener gets the raw socket and the bytes that followed the head', async () => {
  await withServer((req, res) => res.end('not upgraded'), async (port, server) => {
    server.on('upgrade', (req, socket, head) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhead=${head}|`);
      socket.on('data', (d) => socket.write(d.toString().toUpperCase()));
      socket.on('end', () => socket.end('|bye'));
    });
    const text = await new Promise((resolve, reject) => {
      let out = '';
      const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert }, () => {
        sock.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly');
        setTimeout(() => { sock.write('later'); sock.end(); }, 50);
      });
      sock.on('data', (d) => { out += d; });
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(text, /head=early\|LATER\|bye$/);
  });
});

test('without an upgrade listener an upgrade request is an ordinary request', async () => {
  await withServer((req, res) => res.end(`upgrade=${req.upgrade}`), async (port) => {
    const r = await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 200 OK/);
    assert.match(r.text, /upgrade=false$/);
  });
});

test('CONNECT without a connect listener is destroyed, with one it gets the socket', async () => {
  await withServer(() => assert.fail('no request event for CONNECT'), async (port, server) => {
    const refused = await rawTls(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.equal(refused.text, '');
    assert.ok(refused.closed);
    server.on('connect', (req, socket) => socket.end(`HTTP/1.1 200 Connection Established\r\n\r\ntunnel to ${req.url}`));
    const ok = await rawTls(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.match(ok.text, /tunnel to example\.com:443$/);
  });
});

test('regression: an upgraded socket nobody reads still emits end at the client\'s FIN, as net.Socket does', async () => {
  const http = require('node:http');
  const net = require('node:net');
  const rhttp = require('../http');
  for (const mod of [http, rhttp]) {
    const server = mod.createServer();
    server.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
      // No 'data' listener: only the end is awaited, as Node's own upgrade tests do.
      socket.on('end', () => socket.end());
    });
    const port = await listen(server, 0, '127.0.0.1');
    const closed = await within(new Promise((resolve) => {
      const client = net.connect(port, '127.0.0.1', () => {
        client.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
      });
      client.once('data', () => client.end());
      client.on('close', () => resolve(true));
      client.on('error', () => {});
    }), 5000, `the upgraded connection closing (${mod === http ? 'node:http' : 'rhttps'})`);
    assert.equal(closed, true);
    await close(server);
  }
});
