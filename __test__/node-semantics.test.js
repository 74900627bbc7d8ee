'use strict';
// Server semantics beyond request/response: unix sockets, maxConnections, async disposal,
// and async context for APM and tracing tools.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const https = require('node:https');
const { AsyncLocalStorage } = require('node:async_hooks');
const rhttps = require('..');
const rhttp = require('../http');
const { pki, listen, close, request } = require('./helpers');

test('listen(path) serves over a unix socket, and close() removes the socket file', async () => {
  const sock = path.join(os.tmpdir(), `rhttps-${process.pid}.sock`);
  const server = rhttp.createServer((req, res) => res.end(`unix ${req.socket.remoteAddress}`));
  await new Promise((resolve) => server.listen(sock, resolve));
  assert.equal(server.address(), sock);
  const body = await new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: '/' }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  assert.equal(body, 'unix undefined');
  const again = rhttp.createServer();
  const err = await new Promise((resolve) => { again.once('error', resolve); again.listen(sock); });
  assert.equal(err.code, 'EADDRINUSE');
  assert.equal(err.address, sock);
  await close(server);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fs.existsSync(sock), false);
});

test('HTTPS over a unix socket', async () => {
  const sock = path.join(os.tmpdir(), `rhttps-tls-${process.pid}.sock`);
  const server = rhttps.createServer(pki().serverOptions, (req, res) => res.end(req.socket.getProtocol()));
  await new Promise((resolve) => server.listen({ path: sock }, resolve));
  const body = await new Promise((resolve, reject) => {
    https.get({ socketPath: sock, path: '/', servername: 'localhost', ca: pki().rootCert }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  assert.equal(body, 'TLSv1.3');
  await close(server);
});

test('maxConnections drops connections past the limit and emits drop', async () => {
  const server = rhttps.createServer(pki().serverOptions, (req, res) => res.end('ok'));
  server.maxConnections = 1;
  const drops = [];
  server.on('drop', (data) => drops.push(data));
  const port = await listen(server, 0, '127.0.0.1');
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await request(port, { agent })).body.toString(), 'ok');
    await assert.rejects(request(port));
    assert.equal(drops.length, 1);
    assert.equal(drops[0].remoteAddress, '127.0.0.1');
    assert.equal(drops[0].localPort, port);
  } finally {
    agent.destroy();
    await close(server);
  }
});

test('await using-style disposal closes the server', async () => {
  const server = rhttps.createServer(pki().serverOptions);
  await listen(server, 0, '127.0.0.1');
  await server[Symbol.asyncDispose]();
  assert.equal(server.listening, false);
});

test('AsyncLocalStorage context set around emit(request) reaches the handler and its callbacks', async () => {
  const als = new AsyncLocalStorage();
  const seen = [];
  const server = rhttps.createServer(pki().serverOptions, (req, res) => {
    seen.push(['sync', als.getStore()]);
    setTimeout(() => {
      seen.push(['timer', als.getStore()]);
      Promise.resolve().then(() => {
        seen.push(['promise', als.getStore()]);
        res.end('ok');
      });
    }, 5);
  });
  // What APM agents do: wrap the server's emit.
  const emit = server.emit;
  server.emit = function (event, ...args) {
    if (event === 'request') return als.run({ url: args[0].url }, () => emit.call(this, event, ...args));
    return emit.call(this, event, ...args);
  };
  const port = await listen(server, 0, '127.0.0.1');
  try {
    await request(port, { path: '/traced' });
    assert.deepEqual(seen, [['sync', { url: '/traced' }], ['timer', { url: '/traced' }], ['promise', { url: '/traced' }]]);
  } finally {
    await close(server);
  }
});

test('context entered by one connection\'s handler does not leak into another\'s', async () => {
  const als = new AsyncLocalStorage();
  const stores = {};
  const server = rhttps.createServer(pki().serverOptions, (req, res) => {
    stores[req.url] = als.getStore();
    als.enterWith({ from: req.url });
    res.end();
  });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    // Many connections at once, so several requests share one engine batch.
    await Promise.all(Array.from({ length: 20 }, (_, i) => request(port, { path: `/${i}` })));
    for (let i = 0; i < 20; i++) assert.equal(stores[`/${i}`], undefined, `request /${i} saw another's store`);
  } finally {
    await close(server);
  }
});

// The same scenario on node:http(s) and on rhttps: what the handler and the subscribers see.
async function onBoth(scenario) {
  const seen = {};
  for (const [name, mod] of [['node', http], ['rhttps', rhttp]]) seen[name] = await scenario(mod);
  return seen;
}

test('http.server.request.start and http.server.response.finish are published with request, response, socket and server', async () => {
  const dc = require('node:diagnostics_channel');
  const seen = await onBoth(async (mod) => {
    const events = [];
    let server;
    const start = ({ request, response, socket, server: s }) => events.push(['start', request.url,
      response instanceof http.ServerResponse, socket === request.socket, s === server]);
    const finish = ({ request, response, socket, server: s }) => events.push(['finish', request.url,
      response.writableFinished, socket === request.socket, s === server]);
    dc.subscribe('http.server.request.start', start);
    dc.subscribe('http.server.response.finish', finish);
    try {
      server = mod.createServer((req, res) => { events.push(['handler', req.url]); res.end('ok'); });
      const port = await listen(server, 0, '127.0.0.1');
      await new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1', path: '/traced' }, (res) => res.resume().on('end', resolve)).on('error', reject));
      await close(server);
    } finally {
      dc.unsubscribe('http.server.request.start', start);
      dc.unsubscribe('http.server.response.finish', finish);
    }
    return events;
  });
  assert.deepEqual(seen.node, [['start', '/traced', true, true, true], ['handler', '/traced'], ['finish', '/traced', true, true, true]]);
  assert.deepEqual(seen.rhttps, seen.node);
});

test('joinDuplicateHeaders joins repeated request headers with ", " as on Node', async () => {
  const seen = await onBoth(async (mod) => {
    const server = mod.createServer({ joinDuplicateHeaders: true, requireHostHeader: false }, (req, res) => res.end(JSON.stringify([req.headers.authorization, req.headers.cookie])));
    const port = await listen(server, 0, '127.0.0.1');
    const body = await new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1',
      headers: ['authorization', '1', 'authorization', '2', 'cookie', 'a', 'cookie', 'b'] }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(b));
    }).on('error', reject));
    await close(server);
    return body;
  });
  assert.equal(seen.node, '["1, 2","a; b"]');
  assert.equal(seen.rhttps, seen.node);
  assert.throws(() => rhttp.createServer({ joinDuplicateHeaders: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('a plain socket\'s write completes at once, as net.Socket\'s: end() twice gets ERR_STREAM_ALREADY_FINISHED as on node:http', async () => {
  const seen = await onBoth(async (mod) => {
    const events = [];
    const server = mod.createServer((req, res) => {
      res.end('first');
      events.push(`writableLength ${req.socket.writableLength}`, `writableFinished ${res.writableFinished}`);
      res.end((err) => events.push(`second end: ${err && err.code}`));
    });
    const port = await listen(server, 0, '127.0.0.1');
    await new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1' }, (res) => res.resume().on('end', resolve)).on('error', reject));
    await new Promise((r) => setImmediate(r));
    await close(server);
    return events;
  });
  assert.deepEqual(seen.node, ['writableLength 0', 'writableFinished true', 'second end: ERR_STREAM_ALREADY_FINISHED']);
  assert.deepEqual(seen.rhttps, seen.node);
});

test('req.socket._secureEstablished is true over TLS, as on node:https', async () => {
  const server = rhttps.createServer(pki().serverOptions, (req, res) => res.end(String(req.socket._secureEstablished)));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    assert.equal((await request(port)).body.toString(), 'true');
  } finally {
    await close(server);
  }
});
