'use strict';
// Request bodies read in pieces larger than a TLS record: what is read past a body belongs to
// the next request, and an end of input read together with the last bytes comes after them.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const https = require('node:https');
const rhttps = require('..');
const { pki, listen, close, rawTls } = require('./helpers');

function summarize(req, res) {
  const hash = crypto.createHash('sha256');
  let length = 0;
  req.on('data', (c) => { hash.update(c); length += c.length; });
  req.on('end', () => res.end(`${req.method} ${req.url} ${length} ${hash.digest('hex').slice(0, 16)}\n`));
}

// Sends `payload` in one write (and, with `end`, ends the connection right behind it);
// resolves with the summary lines of every response once the server closes.
async function send(port, payload, end) {
  const r = await rawTls(port, payload, { waitMs: 20000, end });
  assert.ok(r.closed, 'the server closes within 20 s');
  return r.text.match(/^(GET|POST|PUT) \S+ \d+ [0-9a-f]+$/gm) || [];
}

function pipelined() {
  const a = crypto.randomBytes(700 * 1024);
  const b = crypto.randomBytes(300 * 1024);
  const parts = [];
  for (let at = 0, size = 1; at < b.length; size = size * 7 + 3) {
    const piece = b.subarray(at, at + (size % 90000) + 1);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    at += piece.length;
  }
  const chunked = Buffer.concat([...parts, Buffer.from('0\r\n\r\n')]);
  return Buffer.concat([
    Buffer.from(`POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${a.length}\r\n\r\n`), a,
    Buffer.from('PUT /b HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n'), chunked,
    Buffer.from('GET /c HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
  ]);
}

test('large pipelined bodies and the request behind them are each answered, as node:https answers them', async () => {
  const payload = pipelined();
  const answers = {};
  for (const [name, make] of [['rhttps', rhttps.createServer], ['node', https.createServer]]) {
    const s = make(pki().serverOptions, summarize);
    const port = await listen(s, 0, '127.0.0.1');
    try {
      answers[name] = await send(port, payload, false);
    } finally {
      await close(s);
    }
  }
  assert.equal(answers.node.length, 3, `node:https answered: ${answers.node}`);
  assert.deepEqual(answers.rhttps, answers.node);
});

test('a fast 4 MiB upload ended right behind its last byte is read whole, in order, as node:https reads it', async () => {
  const body = crypto.randomBytes(4 << 20);
  const payload = Buffer.concat([
    Buffer.from(`POST /big HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
  const digest = crypto.createHash('sha256').update(body).digest('hex').slice(0, 16);
  for (const [name, make] of [['rhttps', rhttps.createServer], ['node', https.createServer]]) {
    let largest = 0;
    const s = make(pki().serverOptions, (req, res) => {
      req.on('data', (c) => { largest = Math.max(largest, c.length); });
      summarize(req, res);
    });
    const port = await listen(s, 0, '127.0.0.1');
    try {
      assert.deepEqual(await send(port, payload, true), [`POST /big ${body.length} ${digest}`], name);
      // Bodies are passed on in pieces of at most a quarter MiB, however fast they come.
      if (name === 'rhttps') assert.ok(largest <= 256 * 1024, `a piece of ${largest} bytes`);
    } finally {
      await close(s);
    }
  }
});
