'use strict';
// A request body's large pieces are lent to JS in the memory the engine read them into, and a
// response write of one (a piped body) goes back to the engine by reference (src/lent.rs).
// What must hold, as on node:https: every byte arrives as sent, a piece the handler keeps stays
// as it was while later ones arrive, a write's callback runs only once its bytes have left (so
// the handler may overwrite the piece from there on), and the memory goes back once the pieces'
// Buffers are collected.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const https = require('node:https');
const { LENT_MIN } = require('../native');
const { pki, withServer, within } = require('./helpers');

const MiB = 1024 * 1024;

const sha = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// POSTs `body` in 1 MiB writes as fast as the server takes them; with `pauseMs`, the response
// is read only after that pause, so the server's writes back up. Resolves with the response.
function post(port, body, { pauseMs = 0 } = {}) {
  return within(new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', servername: 'localhost', port, ca: pki().rootCert, agent: false, method: 'POST',
      headers: { 'content-length': body.length },
    }, (res) => {
      res.pause();
      setTimeout(() => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.resume();
      }, pauseMs);
    });
    req.on('error', reject);
    let at = 0;
    const write = () => {
      while (at < body.length) {
        const piece = body.subarray(at, at + MiB);
        at += piece.length;
        if (!req.write(piece)) return req.once('drain', write);
      }
      req.end();
    };
    write();
  }), 60000, 'the POST and its response');
}

test('a fast upload\'s large pieces reach the handler in memory of their own and stay intact while later ones arrive', async () => {
  const body = crypto.randomBytes(8 * MiB);
  const kept = [];
  await withServer((req, res) => {
    req.on('data', (c) => kept.push(c));
    req.on('end', () => res.end(sha(Buffer.concat(kept))));
  }, async (port) => {
    const r = await post(port, body);
    assert.equal(r.body.toString(), sha(body));
  });
  const lent = kept.filter((c) => c.length >= LENT_MIN);
  assert.ok(lent.length > 0, `pieces of ${kept.map((c) => c.length).join(', ')} bytes: none was lent`);
  for (const c of lent) {
    assert.equal(c.byteOffset, 0, 'a lent piece is a Buffer over its own memory');
    assert.equal(c.buffer.byteLength, c.length, 'a lent piece is a Buffer over its own memory');
  }
});

for (const framing of ['chunked', 'content-length']) {
  test(`a piped request body is echoed byte for byte (${framing} response)`, async () => {
    const body = crypto.randomBytes(16 * MiB);
    await withServer((req, res) => {
      const headers = { 'content-type': 'application/octet-stream' };
      if (framing === 'content-length') headers['content-length'] = req.headers['content-length'];
      res.writeHead(200, headers);
      req.pipe(res);
    }, async (port) => {
      const r = await post(port, body, { pauseMs: 200 });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, body.length);
      assert.equal(sha(r.body), sha(body));
    });
  });
}

test('a lent piece written back has left before its write callback runs, which may overwrite it', async () => {
  const body = crypto.randomBytes(8 * MiB);
  let lentWrites = 0;
  await withServer((req, res) => {
    res.writeHead(200, { 'content-length': req.headers['content-length'] });
    req.on('data', (c) => {
      if (c.length >= LENT_MIN) lentWrites++;
      req.pause();
      res.write(c, () => {
        c.fill(0);
        req.resume();
      });
    });
    req.on('end', () => res.end());
  }, async (port) => {
    const r = await post(port, body, { pauseMs: 300 });
    assert.equal(sha(r.body), sha(body));
  });
  assert.ok(lentWrites > 0, 'some written piece was a lent one');
});

test('an upload far larger than memory allows is read in bounded memory: lent pieces go back once collected', async () => {
  const total = 768 * MiB;
  const chunk = crypto.randomBytes(MiB);
  let peak = 0;
  let received = 0;
  const before = process.memoryUsage.rss();
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 20);
  try {
    await withServer((req, res) => {
      req.on('data', (c) => { received += c.length; });
      req.on('end', () => res.end(String(received)));
    }, async (port) => {
      const r = await within(new Promise((resolve, reject) => {
        const req = https.request({
          host: '127.0.0.1', servername: 'localhost', port, ca: pki().rootCert, agent: false, method: 'POST',
          headers: { 'content-length': total },
        }, (res) => {
          let text = '';
          res.on('data', (d) => { text += d; });
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        let sent = 0;
        const write = () => {
          while (sent < total) {
            sent += chunk.length;
            if (!req.write(chunk)) return req.once('drain', write);
          }
          req.end();
        };
        write();
      }), 120000, 'the upload');
      assert.equal(r, String(total));
    });
  } finally {
    clearInterval(sampler);
  }
  const grown = (peak - before) / MiB;
  assert.ok(grown < 256, `RSS grew by ${grown.toFixed(0)} MiB while ${total / MiB} MiB went through`);
});
