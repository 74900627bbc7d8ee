'use strict';
// Request smuggling and parser strictness: each raw request goes to node:http and to rhttps
// (the same parser serves rhttps's HTTPS); the status and the clientError code and reason must
// match, or the case is one of STRICTER, where rhttps refuses what Node takes. Run with Node's
// default parser and with insecureHTTPParser.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const http = require('node:http');
const rhttps = require('../../http');
const { within } = require('../helpers');

const H = 'Host: x\r\n';
const C = 'Connection: close\r\n';
const chunked = (head, body) => `POST / HTTP/1.1\r\n${H}${C}${head}\r\n${body}`;
const TE = 'Transfer-Encoding: chunked\r\n';

const CASES = {
  'plain GET': `GET /a?b=1 HTTP/1.1\r\n${H}${C}\r\n`,
  'HTTP/1.0': `GET / HTTP/1.0\r\n${H}\r\n`,
  'leading CRLF before the request': `\r\nGET / HTTP/1.1\r\n${H}${C}\r\n`,
  'bare LF everywhere': 'GET / HTTP/1.1\nHost: x\nConnection: close\n\n',
  'bare LF after a header': `GET / HTTP/1.1\r\nHost: x\n${C}\r\n`,
  'lone CR in a header line': `GET / HTTP/1.1\r\nHost: x\rX: y\r\n${C}\r\n`,
  'space before the first header': `GET / HTTP/1.1\r\n X: a\r\n${H}${C}\r\n`,
  'obs-fold': `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n${C}\r\n`,
  'NUL in a header value': `GET / HTTP/1.1\r\n${H}X: a\0b\r\n${C}\r\n`,
  'control character in a header value': `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n${C}\r\n`,
  'DEL in a header value': `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n${C}\r\n`,
  'byte above 0x7f in a header value': `GET / HTTP/1.1\r\n${H}X: a\xffb\r\n${C}\r\n`,
  'space before the colon': `GET / HTTP/1.1\r\n${H}X : a\r\n${C}\r\n`,
  'header line without a colon': `GET / HTTP/1.1\r\n${H}Xa\r\n${C}\r\n`,
  'empty header name': `GET / HTTP/1.1\r\n${H}: a\r\n${C}\r\n`,
  'underscore in a header name': `GET / HTTP/1.1\r\n${H}X_A: a\r\n${C}\r\n`,
  'unknown method': `FOO / HTTP/1.1\r\n${H}${C}\r\n`,
  'lowercase method': `get / HTTP/1.1\r\n${H}${C}\r\n`,
  'PURGE (in Node\'s list)': `PURGE / HTTP/1.1\r\n${H}${C}\r\n`,
  'QUERY (in Node\'s list)': `QUERY / HTTP/1.1\r\n${H}${C}\r\n`,
  'space inside the target': `GET /a b HTTP/1.1\r\n${H}${C}\r\n`,
  'tab in the target': `GET /a\tb HTTP/1.1\r\n${H}${C}\r\n`,
  'NUL in the target': `GET /a\0b HTTP/1.1\r\n${H}${C}\r\n`,
  'DEL in the target': `GET /a\x7fb HTTP/1.1\r\n${H}${C}\r\n`,
  'byte above 0x7f in the target': `GET /a\xffb HTTP/1.1\r\n${H}${C}\r\n`,
  'asterisk target': `OPTIONS * HTTP/1.1\r\n${H}${C}\r\n`,
  'absolute target': `GET http://x/a HTTP/1.1\r\n${H}${C}\r\n`,
  'lowercase version': `GET / http/1.1\r\n${H}${C}\r\n`,
  'HTTP/1.2': `GET / HTTP/1.2\r\n${H}${C}\r\n`,
  'HTTP/2.0 in an HTTP/1 request line': `GET / HTTP/2.0\r\n${H}${C}\r\n`,
  'HTTP/0.9 request line': 'GET /\r\n\r\n',
  'missing Host': `GET / HTTP/1.1\r\n${C}\r\n`,
  'Content-Length then Transfer-Encoding': `POST / HTTP/1.1\r\n${H}${C}Content-Length: 5\r\n${TE}\r\n5\r\nhello\r\n0\r\n\r\n`,
  'Transfer-Encoding then Content-Length': `POST / HTTP/1.1\r\n${H}${C}${TE}Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  'duplicate Content-Length': `POST / HTTP/1.1\r\n${H}${C}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  'conflicting Content-Length': `POST / HTTP/1.1\r\n${H}${C}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  'signed Content-Length': `POST / HTTP/1.1\r\n${H}${C}Content-Length: +5\r\n\r\nhello`,
  'negative Content-Length': `POST / HTTP/1.1\r\n${H}${C}Content-Length: -5\r\n\r\nhello`,
  'space inside Content-Length': `POST / HTTP/1.1\r\n${H}${C}Content-Length: 1 2\r\n\r\nhello`,
  'Content-Length list': `POST / HTTP/1.1\r\n${H}${C}Content-Length: 5, 5\r\n\r\nhello`,
  'chunked twice in two headers': chunked(`${TE}${TE}`, '5\r\nhello\r\n0\r\n\r\n'),
  'chunked, chunked': chunked('Transfer-Encoding: chunked, chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'),
  'chunked, gzip': chunked('Transfer-Encoding: chunked, gzip\r\n', 'hello'),
  'gzip alone': chunked('Transfer-Encoding: gzip\r\n', 'hello'),
  'identity with Content-Length': chunked('Transfer-Encoding: identity\r\nContent-Length: 5\r\n', 'hello'),
  'CHUNKED uppercase, padded': chunked('Transfer-Encoding:  CHUNKED \r\n', '5\r\nhello\r\n0\r\n\r\n'),
  'space after the chunk size': chunked(TE, '5 \r\nhello\r\n0\r\n\r\n'),
  'tab after the chunk size': chunked(TE, '5\t\r\nhello\r\n0\r\n\r\n'),
  'bare LF after the chunk size': chunked(TE, '5\nhello\r\n0\r\n\r\n'),
  'chunk data longer than its size': chunked(TE, '5\r\nhelloX\r\n0\r\n\r\n'),
  'chunk size overflow': chunked(TE, 'ffffffffffffffffff\r\nhello\r\n0\r\n\r\n'),
  'uppercase hex and leading zeros': chunked(TE, '00A\r\n0123456789\r\n0\r\n\r\n'),
  'quoted chunk extension': chunked(TE, '5;a="b"\r\nhello\r\n0\r\n\r\n'),
  'trailer after the last chunk': chunked(TE, '5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n'),
  'Content-Length in the trailers': chunked(TE, '5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n'),
  'Transfer-Encoding in the trailers': chunked(TE, '5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n'),
};

// Where rhttps answers 400 and Node serves the request, and why (both parsers' modes). Empty:
// every case is answered as Node answers it; kept so a future difference is listed, not hidden.
const STRICTER = {};
const STRICTER_WHEN_INSECURE = { ...STRICTER };

function serve(createServer, options) {
  const server = createServer(options, (req, res) => {
    let n = 0;
    req.on('data', (d) => { n += d.length; });
    req.on('end', () => res.end(`${req.method} ${n}`));
  });
  const errors = [];
  server.on('clientError', (err, socket) => {
    errors.push(`${err.code}: ${err.reason || err.message}`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, errors })));
}

// Sends one raw request; the answer is the status codes seen and the clientError reported.
async function answer(target, raw) {
  target.errors.length = 0;
  const text = await within(new Promise((resolve) => {
    const s = net.connect(target.server.address().port, '127.0.0.1', () => s.write(Buffer.from(raw, 'latin1')));
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    // A server that waits for more (a body read until close) is answered by the client's end.
    setTimeout(() => s.end(), 500);
  }), 5000, 'an answer');
  // clientError is emitted before the socket closes on both servers; let its listener run.
  await new Promise((r) => setImmediate(r));
  const statuses = (text.match(/HTTP\/1\.[01] \d{3}/g) || []).map((s) => s.slice(9));
  // Node may report a second clientError for bytes that keep arriving after the first; the
  // first is the answer to the request.
  return { statuses: statuses.join(',') || 'none', clientError: target.errors[0] || null };
}

for (const [mode, options, stricter] of [['default parser', {}, STRICTER], ['insecureHTTPParser', { insecureHTTPParser: true }, STRICTER_WHEN_INSECURE]]) {
  test(`the same answers as node:http for ${Object.keys(CASES).length} raw requests (${mode}), or a listed stricter one`, async () => {
    const node = await serve(http.createServer, options);
    const ours = await serve(rhttps.createServer, options);
    const mismatches = [];
    try {
      for (const [name, raw] of Object.entries(CASES)) {
        const theirs = await answer(node, raw);
        const mine = await answer(ours, raw);
        if (stricter[name]) {
          assert.equal(mine.statuses, '400', `${name}: listed as stricter, so rhttps answers 400`);
          assert.notEqual(theirs.statuses, '400', `${name} is listed as stricter but Node refuses it too`);
        } else if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
          mismatches.push(`${name}: node ${JSON.stringify(theirs)} rhttps ${JSON.stringify(mine)}`);
        }
      }
    } finally {
      node.server.close();
      ours.server.close();
    }
    assert.deepEqual(mismatches, []);
  });
}

test('around maxHeaderSize (counted as Node counts it: target, names and values) every answer equals Node\'s, ten times over', async () => {
  const many = `GET / HTTP/1.1\r\n${Array.from({ length: 2001 }, (_, i) => `x-h${i % 10}: v\r\n`).join('')}${C}\r\n`;
  const under = `GET / HTTP/1.1\r\nX: ${'a'.repeat(16 * 1024 - 3)}\r\n${C}\r\n`;
  const at = `GET / HTTP/1.1\r\nX: ${'a'.repeat(16 * 1024 - 2)}\r\n${C}\r\n`;
  const huge = `GET / HTTP/1.1\r\nX: ${'a'.repeat(1024 * 1024)}\r\n${C}\r\n`;
  const longUrl = `GET /${'u'.repeat(20 * 1024)} HTTP/1.1\r\n${H}${C}\r\n`;
  const node = await serve(http.createServer, {});
  const ours = await serve(rhttps.createServer, {});
  try {
    for (const [name, raw] of Object.entries({ 'many short headers': many, 'just under': under, 'at the limit': at, '1 MB header': huge, 'long URL': longUrl })) {
      for (let i = 0; i < 10; i++) {
        assert.deepEqual(await answer(ours, raw), await answer(node, raw), `${name}, try ${i + 1}`);
      }
    }
  } finally {
    node.server.close();
    ours.server.close();
  }
});

test('a Transfer-Encoding without a final chunked is dispatched, then refused with 400, as on node:http', async () => {
  const raw = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunkedchunked\r\n\r\n1\r\nA\r\n0\r\n\r\n`;
  const seen = {};
  for (const [name, createServer] of [['node', http.createServer], ['rhttps', rhttps.createServer]]) {
    const target = await serve(createServer, {});
    const requests = [];
    target.server.on('request', (req) => {
      requests.push(req.url);
      req.on('data', () => requests.push('data'));
      req.on('end', () => requests.push('end'));
    });
    const result = await answer(target, raw);
    target.server.close();
    seen[name] = { ...result, requests };
  }
  assert.deepEqual(seen.node.requests, ['/'], 'node:http reference: dispatched, no body');
  assert.deepEqual(seen.rhttps, seen.node);
});

// What llhttp takes and httparse cannot read is rewritten for httparse; the handler must still
// see what Node's handler sees: the version as sent, the header bytes as sent (a folded value
// joined without its line break), and a body read until the client closes.
const SEEN_AS_NODE = [
  ['default parser', {}, ['HTTP/2.0 in an HTTP/1 request line', 'HTTP/0.9 request line', 'HTTP/1.0']],
  ['insecureHTTPParser', { insecureHTTPParser: true }, [
    'space before the first header', 'obs-fold', 'NUL in a header value', 'control character in a header value',
    'DEL in a header value', 'HTTP/1.2', 'chunked, gzip', 'gzip alone', 'identity with Content-Length',
  ]],
];
for (const [mode, options, names] of SEEN_AS_NODE) {
  test(`the handler sees the version, raw headers and body Node's handler sees (${mode})`, async () => {
    const extra = {
      'folded over several lines': `GET / HTTP/1.1\r\n${H}X: a  \r\n\t b \r\n  c\r\n${C}\r\n`,
      'HTTP/9.9': `GET / HTTP/9.9\r\n${H}\r\n`,
    };
    const cases = names.map((n) => [n, CASES[n]]).concat(options.insecureHTTPParser ? Object.entries(extra) : []);
    const seen = {};
    for (const [name, createServer] of [['node', http.createServer], ['rhttps', rhttps.createServer]]) {
      const target = await serve(createServer, options);
      const requests = [];
      target.server.on('request', (req, res) => {
        let body = '';
        req.on('data', (d) => { body += d.toString('latin1'); });
        req.on('end', () => requests.push({
          version: [req.httpVersion, req.httpVersionMajor, req.httpVersionMinor],
          url: req.url, rawHeaders: req.rawHeaders, body, keepAlive: res.shouldKeepAlive,
        }));
      });
      try {
        for (const [caseName, raw] of cases) {
          requests.length = 0;
          const result = await answer(target, raw);
          seen[`${name}: ${caseName}`] = { ...result, requests: [...requests] };
        }
      } finally {
        target.server.close();
      }
    }
    for (const [caseName] of cases) {
      assert.equal(seen[`node: ${caseName}`].requests.length, 1, `${caseName}: node:http reference serves it`);
      assert.deepEqual(seen[`rhttps: ${caseName}`], seen[`node: ${caseName}`], caseName);
    }
  });
}
