'use strict';
// Real frameworks, unmodified, on rhttps — each answer compared with the same app on
// node:https (differential), plus what each framework specifically relies on.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const rhttps = require('..');
const { pki, listen, close, request, rawTls } = require('./helpers');
const { expressApp, expressCases, koaApp, koaCases, fastifyApp, fastifyCases, bigFile } = require('./apps');

// Runs `cases` against both servers; returns rhttps's answers for further checks.
async function differential(ours, theirs, cases) {
  const ourPort = await listen(ours, 0, '127.0.0.1');
  const theirPort = await listen(theirs, 0, '127.0.0.1');
  const answers = [];
  try {
    for (const c of cases) {
      const { body, ...opts } = c;
      const a = await request(ourPort, opts, body);
      const b = await request(theirPort, opts, body);
      const label = `${c.method || 'GET'} ${c.path} ${JSON.stringify(c.headers || {})}`;
      assert.equal(a.status, b.status, label);
      const strip = (h) => { const { date, ...rest } = h; return rest; };
      assert.deepEqual(strip(a.headers), strip(b.headers), label);
      assert.ok(a.body.equals(b.body), `${label}: body differs`);
      answers.push(a);
    }
    return { answers, port: ourPort };
  } finally {
    await close(ours);
    await close(theirs);
  }
}

for (const [name, mod] of [['Express 5', 'express'], ['Express 4', 'express4']]) {
  test(`${name}: a realistic app answers exactly as on node:https`, async () => {
    const express = require(mod);
    const { answers } = await differential(
      rhttps.createServer(pki().serverOptions, expressApp(express)),
      https.createServer(pki().serverOptions, expressApp(express)),
      expressCases,
    );
    const byPath = (p, i = 0) => answers.filter((_, k) => expressCases[k].path === p)[i];
    assert.deepEqual(byPath('/cookies').headers['set-cookie'], ['a=1; Path=/; HttpOnly', 'b=2; Path=/; SameSite=Strict']);
    assert.equal(byPath('/compressed').headers['content-encoding'], 'gzip');
    assert.ok(byPath('/static/big.bin').body.equals(bigFile));
    const ranged = byPath('/static/big.bin', 1);
    assert.equal(ranged.status, 206);
    assert.ok(ranged.body.equals(bigFile.subarray(100, 200)));
    assert.equal(byPath('/error').status, 500);
  });
}

test('Express static answers If-None-Match with 304 and no body', async () => {
  const server = rhttps.createServer(pki().serverOptions, expressApp(require('express')));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const first = await request(port, { path: '/static/big.bin' });
    const again = await request(port, { path: '/static/big.bin', headers: { 'if-none-match': first.headers.etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
  } finally {
    await close(server);
  }
});

test('Koa 3: an app answers exactly as on node:https', async () => {
  await differential(
    rhttps.createServer(pki().serverOptions, koaApp()),
    https.createServer(pki().serverOptions, koaApp()),
    koaCases,
  );
});

test('Fastify 5 through serverFactory, including its raw 400 on a malformed request', async () => {
  const ours = fastifyApp((handler) => rhttps.createServer(pki().serverOptions, handler));
  const theirs = fastifyApp((handler) => https.createServer(pki().serverOptions, handler));
  await ours.listen({ port: 0, host: '127.0.0.1' });
  await theirs.listen({ port: 0, host: '127.0.0.1' });
  try {
    assert.ok(ours.server instanceof https.Server);
    const ourPort = ours.server.address().port;
    const theirPort = theirs.server.address().port;
    for (const c of fastifyCases) {
      const { body, ...opts } = c;
      const a = await request(ourPort, opts, body);
      const b = await request(theirPort, opts, body);
      assert.equal(a.status, b.status);
      assert.equal(a.body.toString(), b.body.toString());
    }
    const bad = 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n';
    const a = await rawTls(ourPort, bad);
    const b = await rawTls(theirPort, bad);
    assert.match(a.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(a.text, b.text, 'Fastify\'s own clientError reply, byte for byte');
  } finally {
    await ours.close();
    await theirs.close();
  }
});

test('socket.io attached to an rhttps server: polling and websocket transports', async () => {
  const { Server } = require('socket.io');
  const { io } = require('socket.io-client');
  const server = rhttps.createServer(pki().serverOptions, (req, res) => res.end('plain http route'));
  const ioServer = new Server(server);
  ioServer.on('connection', (socket) => {
    socket.on('echo', (msg, ack) => ack(`echo: ${msg} via ${socket.conn.transport.name}`));
  });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
      const client = io(`https://localhost:${port}`, { transports, ca: pki().rootCert, forceNew: true, reconnection: false });
      await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('connect_error', reject); });
      const reply = await client.timeout(5000).emitWithAck('echo', 'hi');
      assert.match(reply, /^echo: hi via (polling|websocket)$/);
      if (transports.length === 1) assert.ok(reply.endsWith(transports[0]));
      client.close();
    }
    // socket.io re-wired the 'request' listeners; other routes still reach the original handler.
    assert.equal((await request(port, { path: '/other' })).body.toString(), 'plain http route');
  } finally {
    ioServer.close();
    await close(server);
  }
});

test('Hono through @hono/node-server with rhttps as its createServer', async () => {
  const { Hono } = require('hono');
  const { serve } = require('@hono/node-server');
  const app = new Hono();
  app.get('/hi/:who', (c) => c.json({ hi: c.req.param('who') }));
  app.post('/len', async (c) => c.text(String((await c.req.arrayBuffer()).byteLength)));
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', createServer: rhttps.createServer, serverOptions: pki().serverOptions },
      () => resolve(s));
  });
  try {
    assert.ok(server instanceof https.Server);
    const port = server.address().port;
    assert.deepEqual(JSON.parse((await request(port, { path: '/hi/rust' })).body), { hi: 'rust' });
    assert.equal((await request(port, { path: '/len', method: 'POST' }, Buffer.alloc(100000))).body.toString(), '100000');
  } finally {
    await close(server);
  }
});
