'use strict';
// Differential tests: each scenario's request bytes go to node:https and to rhttps with the
// same server setup; the response bytes (Date aside) and the order of server-side events
// must match. Intentional differences are listed in INTENTIONAL_DIFFERENCES with the reason.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const rhttps = require('..');
const { pki, listen, close, rawTls } = require('./helpers');

// Where rhttps is meant to differ from node:https, and why. Scenarios below avoid these.
const INTENTIONAL_DIFFERENCES = {
  connectionEvent: "'connection' fires after the TLS handshake, with the same socket as 'secureConnection': the engine owns the raw TCP socket",
  closeAfterClose: 'after close(), a keep-alive connection is closed as soon as its response ends instead of idling until keepAliveTimeout',
  dropTiming: "with maxConnections reached, 'drop' fires after the TLS handshake (Node drops before it)",
  sniKeyTypes: 'a context from SNICallback is served alone; OpenSSL keeps the default context\'s certificate of another key type beside it, so Node may serve the default ECDSA certificate instead of the context\'s RSA one (tls-callbacks.test.js)',
  alpnInvalidResult: 'an ALPNCallback result the client did not offer ends that handshake with tlsClientError ERR_TLS_ALPN_CALLBACK_INVALID_RESULT; Node throws it from the handshake as an uncaught exception',
};

const H = 'Host: localhost\r\n';
const CLOSE = 'Connection: close\r\n';

const scenarios = [
  { name: 'plain GET', request: `GET /x?y=1 HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s, log) => s.on('request', (req, res) => { log('request', req.url); res.end('hi'); }) },
  { name: 'HTTP/1.0 without keep-alive', request: 'GET / HTTP/1.0\r\n\r\n',
    setup: (s) => s.on('request', (req, res) => res.end('old')) },
  { name: 'HTTP/1.0 asking keep-alive, then closing', request: `GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n`,
    setup: (s) => s.on('request', (req, res) => { res.setHeader('Content-Length', 2); res.end('ok'); }) },
  { name: 'pipelined keep-alive', request: `GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s, log) => s.on('request', (req, res) => { log('request', req.url); res.end(req.url); }) },
  { name: 'Expect 100-continue with checkContinue', request: `POST / HTTP/1.1\r\n${H}${CLOSE}Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`,
    setup: (s, log) => s.on('checkContinue', (req, res) => {
      log('checkContinue');
      res.writeContinue();
      let b = '';
      req.on('data', (d) => { b += d; });
      req.on('end', () => { log('body', b); res.end(`got ${b}`); });
    }) },
  { name: 'Expect 100-continue without listener', request: `POST / HTTP/1.1\r\n${H}${CLOSE}Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi`,
    setup: (s) => s.on('request', (req, res) => req.pipe(res)) },
  { name: 'unknown Expect without listener is 417', request: `GET / HTTP/1.1\r\n${H}${CLOSE}Expect: teapot\r\n\r\n`,
    setup: (s, log) => s.on('request', () => log('request must not run')) },
  { name: 'checkExpectation', request: `GET / HTTP/1.1\r\n${H}${CLOSE}Expect: teapot\r\n\r\n`,
    setup: (s, log) => s.on('checkExpectation', (req, res) => { log('checkExpectation', req.headers.expect); res.writeHead(418); res.end(); }) },
  { name: 'early hints and processing', request: `GET / HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s) => s.on('request', (req, res) => {
      res.writeProcessing();
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style', 'x-hint': 'a' });
      res.end('done');
    }) },
  { name: 'response trailers', request: `GET / HTTP/1.1\r\n${H}${CLOSE}TE: trailers\r\n\r\n`,
    setup: (s) => s.on('request', (req, res) => {
      res.writeHead(200, { Trailer: 'X-Sum' });
      res.write('abc');
      res.addTrailers({ 'X-Sum': '3' });
      res.end();
    }) },
  { name: 'request trailers and distinct views', request: `POST / HTTP/1.1\r\n${H}${CLOSE}X-Dup: a\r\nX-Dup: b\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: 1\r\nX-T: 2\r\n\r\n`,
    setup: (s, log) => s.on('request', (req, res) => {
      log('headersDistinct', req.headersDistinct['x-dup']);
      req.resume();
      req.on('end', () => { log('trailers', req.trailers, req.trailersDistinct['x-t']); res.end(); });
    }) },
  { name: 'maxHeadersCount truncates', request: `GET / HTTP/1.1\r\n${H}${CLOSE}A: 1\r\nB: 2\r\nC: 3\r\n\r\n`,
    setup: (s, log) => { s.maxHeadersCount = 2; s.on('request', (req, res) => { log('keys', Object.keys(req.headers)); res.end(); }); } },
  { name: 'maxRequestsPerSocket answers 503 and emits dropRequest', request: `GET /1 HTTP/1.1\r\n${H}\r\nGET /2 HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s, log) => {
      s.maxRequestsPerSocket = 1;
      s.on('request', (req, res) => { log('request', req.url); res.end('served'); });
      s.on('dropRequest', (req) => log('dropRequest', req.url));
    } },
  { name: 'errors thrown by Node response methods', request: `GET / HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s, log) => s.on('request', (req, res) => {
      const code = (fn) => { try { fn(); return 'no error'; } catch (e) { return e.code; } };
      log('bad status', code(() => res.writeHead(99)));
      log('bad name', code(() => res.setHeader('bad name', 'x')));
      log('bad value', code(() => res.setHeader('x', 'a\nb')));
      res.end('body');
      log('after send', code(() => res.setHeader('x', 'y')));
      res.on('error', (err) => log('res error', err.code));
      res.write('late', (err) => log('write after end', err && err.code));
    }) },
  { name: 'header case and multi-value headers as written', request: `GET / HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s) => s.on('request', (req, res) => {
      res.setHeader('X-MiXeD-Case', 'v');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.writeHead(200, ['X-Raw-Array', '1', 'x-raw-array', '2']);
      res.end();
    }) },
  { name: 'HEAD, 204 and 304 carry no body', request: `HEAD / HTTP/1.1\r\n${H}\r\nGET /204 HTTP/1.1\r\n${H}\r\nGET /304 HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s) => s.on('request', (req, res) => {
      if (req.url === '/204') res.statusCode = 204;
      if (req.url === '/304') res.statusCode = 304;
      res.end('ignored body');
    }) },
  { name: 'chunked response with explicit flushes', request: `GET / HTTP/1.1\r\n${H}${CLOSE}\r\n`,
    setup: (s) => s.on('request', (req, res) => { res.write('one'); setTimeout(() => { res.write('two'); res.end('three'); }, 10); }) },
  { name: 'missing Host on HTTP/1.1', request: `GET / HTTP/1.1\r\n${CLOSE}\r\n`,
    setup: (s, log) => s.on('request', () => log('request must not run')) },
  { name: 'malformed request: default 400 and clientError order', request: 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
    setup: (s, log) => s.on('request', () => log('request must not run')) },
  { name: 'clientError listener writes its own reply', request: 'BAD\r\n\r\n',
    setup: (s, log) => s.on('clientError', (err, socket) => { log('clientError', err.code); socket.end('HTTP/1.1 400 Custom\r\nConnection: close\r\n\r\n'); }) },
  { name: 'header overflow is 431', request: `GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(20000)}\r\n\r\n`,
    setup: () => {} },
  { name: 'Content-Length with Transfer-Encoding is refused', request: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    setup: (s, log) => s.on('request', () => log('request must not run')) },
  { name: 'server.setTimeout fires on an idle request', request: `GET / HTTP/1.1\r\n${H}\r\n`,
    setup: (s, log) => {
      s.setTimeout(150, (socket) => { log('timeout'); socket.destroy(); });
      s.on('request', () => log('request'));
    } },
  { name: 'req.setTimeout fires for its request', request: `GET / HTTP/1.1\r\n${H}\r\n`,
    setup: (s, log) => s.on('request', (req, res) => { req.setTimeout(100, () => { log('req timeout'); res.end('late'); }); }) },
  { name: 'request and response event order', request: `POST / HTTP/1.1\r\n${H}${CLOSE}Content-Length: 4\r\n\r\nbody`,
    setup: (s, log) => s.on('request', (req, res) => {
      req.on('data', (d) => log('req data', d.toString()));
      req.on('end', () => { log('req end', req.complete); res.end('ok'); });
      req.on('close', () => log('req close'));
      res.on('finish', () => log('res finish'));
      res.on('close', () => log('res close'));
    }) },
];

async function runOn(createServer, scenario) {
  const events = [];
  const log = (...e) => events.push(JSON.parse(JSON.stringify(e)));
  const server = createServer(pki().serverOptions);
  scenario.setup(server, log);
  server.on('clientError', (err, socket) => {
    log('clientError(any)', err.code);
    if (server.listenerCount('clientError') === 1) socket.destroy(err);
  });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const r = await rawTls(port, scenario.request, { waitMs: 3000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { response: r.text.replace(/Date: [^\r]+\r\n/g, ''), closed: r.closed, events };
  } finally {
    await close(server);
  }
}

for (const scenario of scenarios) {
  test(`same as node:https — ${scenario.name}`, async () => {
    const theirs = await runOn(https.createServer, scenario);
    const ours = await runOn(rhttps.createServer, scenario);
    assert.equal(ours.response, theirs.response, 'response bytes');
    assert.deepEqual(ours.events, theirs.events, 'server-side events');
    assert.equal(ours.closed, theirs.closed, 'connection closed by the server');
  });
}

// Each listed difference has its row in the README's compatibility tables (marked "differs"),
// and the README marks no difference that is not listed here.
const README_ROWS = {
  connectionEvent: /^\| `'connection'` event \| \*\*differs\*\*/m,
  closeAfterClose: /^\| `close\(\)` \| \*\*differs/m,
  dropTiming: /^\| `maxConnections` \| \*\*differs\*\*/m,
  sniKeyTypes: /^\| `SNICallback\(servername, cb\)` \|.*\*\*Differs\*\*/m,
  alpnInvalidResult: /^\| `ALPNCallback` \|.*\*\*Differs\*\*/m,
};

test('every intentional difference is stated in the README, and the README states no other', () => {
  const readme = require('node:fs').readFileSync(require('node:path').join(__dirname, '..', 'README.md'), 'utf8');
  assert.deepEqual(Object.keys(README_ROWS).sort(), Object.keys(INTENTIONAL_DIFFERENCES).sort());
  for (const [name, row] of Object.entries(README_ROWS)) assert.match(readme, row, name);
  const marked = readme.split('\n').filter((line) => line.startsWith('|') && /\*\*differs/i.test(line));
  assert.equal(marked.length, Object.keys(INTENTIONAL_DIFFERENCES).length, marked.join('\n'));
});
