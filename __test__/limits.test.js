'use strict';
// Each safe limit fires at the value given, through the public options.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const tls = require('node:tls');
const helpers = require('./helpers');
const { rawTls } = helpers;

const ok = (req, res) => res.end('ok');
const withServer = (options, fn, handler = ok) => helpers.withServer(handler, fn, options);

test('headersTimeout answers a slow request head with 408 and closes', async () => {
  await withServer({ headersTimeout: 300, requestTimeout: 5000 }, async (port) => {
    const started = Date.now();
    const r = await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\n');
    assert.match(r.text, /^HTTP\/1\.1 408 Request Timeout\r\nConnection: close\r\n\r\n$/);
    assert.ok(r.closed);
    assert.ok(Date.now() - started >= 250);
  });
});

test('requestTimeout answers a slow request body with 408', async () => {
  await withServer({ headersTimeout: 200, requestTimeout: 400 }, async (port) => {
    const r = await rawTls(port, 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\npartial');
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.ok(r.closed);
  }, (req) => { req.resume(); });
});

test('request timeouts reach clientError with ERR_HTTP_REQUEST_TIMEOUT', async () => {
  let code;
  await withServer({ headersTimeout: 200, requestTimeout: 200 }, async (port, server) => {
    server.on('clientError', (err, socket) => { code = err.code; socket.destroy(); });
    await rawTls(port, 'GET / HTTP/1.1\r\n');
  });
  assert.equal(code, 'ERR_HTTP_REQUEST_TIMEOUT');
});

test('keepAliveTimeout closes an idle connection after the advertised time plus Node\'s grace', async () => {
  await withServer({ keepAliveTimeout: 200 }, async (port) => {
    const started = Date.now();
    const r = await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const elapsed = Date.now() - started;
    assert.match(r.text, /Keep-Alive: timeout=0\r\n/, 'advertised in whole seconds, as Node');
    assert.ok(r.closed, 'closed by the server');
    assert.ok(elapsed >= 1000 && elapsed < 4000, `closed after ${elapsed} ms`);
  });
});

test('keepAliveTimeout set on a live server applies to new connections', async () => {
  await withServer({}, async (port, server) => {
    server.keepAliveTimeout = 100;
    // rawTls gives up (closed: false) at 3 s, long before the 5 s default would close it.
    const r = await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', { waitMs: 3000 });
    assert.ok(r.closed, 'closed by the new keepAliveTimeout');
  });
});

test('maxHeaderSize answers an oversized head with 431', async () => {
  await withServer({ maxHeaderSize: 1024 }, async (port) => {
    const r = await rawTls(port, `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(2048)}\r\n\r\n`);
    assert.match(r.text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  });
});

test('the default maxHeaderSize of 16 KiB accepts 15 KiB of headers and refuses 17 KiB', async () => {
  await withServer({}, async (port) => {
    const ok = await rawTls(port, `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(15 * 1024)}\r\nConnection: close\r\n\r\n`);
    assert.match(ok.text, /^HTTP\/1\.1 200/);
    const big = await rawTls(port, `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
    assert.match(big.text, /^HTTP\/1\.1 431/);
  });
});

// The engine closes the socket and reports the error through its event queue: the client may
// see the close before the server's event is emitted, so the tests wait for the event.
function nextEvent(emitter, name, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${name}' within ${ms} ms`)), ms);
    emitter.once(name, (...args) => { clearTimeout(timer); resolve(args); });
  });
}

test('handshakeTimeout drops a client that never completes the TLS handshake', async () => {
  await withServer({ handshakeTimeout: 300 }, async (port, server) => {
    const tlsError = nextEvent(server, 'tlsClientError');
    const clientError = nextEvent(server, 'clientError');
    const started = Date.now();
    await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.on('close', resolve);
      sock.on('error', () => {});
    });
    assert.ok(Date.now() - started >= 250);
    const [err] = await tlsError;
    assert.equal(err.code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
    assert.equal((await clientError)[0], err, 'forwarded to clientError as node:https does');
  });
});

test('a plain-HTTP request on the TLS port is a tlsClientError, not a crash', async () => {
  await withServer({}, async (port, server) => {
    const tlsError = nextEvent(server, 'tlsClientError');
    await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      sock.on('close', resolve);
      sock.on('error', () => {});
      sock.resume();
    });
    const [err] = await tlsError;
    assert.match(err.code, /^ERR_SSL_/);
  });
  void tls;
});
