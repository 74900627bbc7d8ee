'use strict';
// An unmodified Express 5 app on rhttps, and the same app on node:https: same answers.
// Express swaps req/res prototypes to its own (built on Node's), so this also proves the
// compatible write path: Node's own ServerResponse code writing to the rhttps socket.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const http = require('node:http');
const express = require('express');
const rhttps = require('..');
const { pki, listen, close, request } = require('./helpers');

function app() {
  const a = express();
  a.use(express.json());
  a.get('/json', (req, res) => res.json({ hello: 'world', secure: req.secure, protocol: req.protocol }));
  a.post('/body', (req, res) => res.status(201).json({ received: req.body }));
  a.get('/cookies', (req, res) => {
    res.cookie('session', 'abc', { httpOnly: true, secure: true });
    res.cookie('theme', 'dark');
    res.send('two cookies');
  });
  a.get('/proto', (req, res) => {
    res.json({
      reqIsNode: req instanceof http.IncomingMessage,
      resIsNode: res instanceof http.ServerResponse,
      swapped: Object.getPrototypeOf(res) === a.response,
    });
  });
  a.get('/redirect', (req, res) => res.redirect('/json'));
  a.use((err, req, res, next) => res.status(500).json({ error: err.message }));
  return a;
}

test('an Express 5 app runs unmodified and answers as on node:https', async () => {
  const ours = rhttps.createServer(pki().serverOptions, app());
  const theirs = https.createServer(pki().serverOptions, app());
  const ourPort = await listen(ours, 0, '127.0.0.1');
  const theirPort = await listen(theirs, 0, '127.0.0.1');
  try {
    const cases = [
      { path: '/json' },
      { path: '/body', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: [1, 2, 3], b: 'ü' }) },
      { path: '/body', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad json' },
      { path: '/cookies' },
      { path: '/proto' },
      { path: '/redirect' },
      { path: '/missing' },
    ];
    for (const c of cases) {
      const { body, ...opts } = c;
      const a = await request(ourPort, opts, body);
      const b = await request(theirPort, opts, body);
      assert.equal(a.status, b.status, c.path);
      const strip = (h) => { const { date, ...rest } = h; return rest; };
      assert.deepEqual(strip(a.headers), strip(b.headers), c.path);
      assert.equal(a.body.toString(), b.body.toString(), c.path);
    }
    const json = await request(ourPort, { path: '/json' });
    assert.deepEqual(JSON.parse(json.body), { hello: 'world', secure: true, protocol: 'https' });
    const cookies = await request(ourPort, { path: '/cookies' });
    assert.deepEqual(cookies.headers['set-cookie'], ['session=abc; Path=/; HttpOnly; Secure', 'theme=dark; Path=/']);
    const posted = await request(ourPort, { path: '/body', method: 'POST', headers: { 'content-type': 'application/json' } }, '{"x":1}');
    assert.equal(posted.status, 201);
    assert.deepEqual(JSON.parse(posted.body), { received: { x: 1 } });
    const proto = await request(ourPort, { path: '/proto' });
    assert.deepEqual(JSON.parse(proto.body), { reqIsNode: true, resIsNode: true, swapped: true });
  } finally {
    await close(ours);
    await close(theirs);
  }
});
