'use strict';
// The Server object: constructors, instanceof, listen overloads and errors, address, close
// semantics, connection management — checked against node:https where behaviour is shared.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const http = require('node:http');
const tls = require('node:tls');
const net = require('node:net');
const util = require('node:util');
const rhttps = require('..');
const rhttp = require('../http');
const { pki, listen, close, request, rawTls, until, within } = require('./helpers');

test('Server passes instanceof https.Server, tls.Server and net.Server and works without new', () => {
  const a = rhttps.createServer(pki().serverOptions);
  // eslint-disable-next-line new-cap
  const b = rhttps.Server(pki().serverOptions);
  for (const s of [a, b]) {
    assert.ok(s instanceof rhttps.Server);
    assert.ok(s instanceof https.Server);
    assert.ok(s instanceof tls.Server);
    assert.ok(s instanceof net.Server);
  }
  const plain = rhttp.createServer();
  assert.ok(plain instanceof http.Server);
  assert.ok(plain instanceof net.Server);
  assert.ok(!(plain instanceof tls.Server));
});

test('old-style subclasses calling Server.call(this, ...) work', async () => {
  function MyServer(opts) {
    rhttps.Server.call(this, opts, (req, res) => res.end('sub'));
  }
  util.inherits(MyServer, rhttps.Server);
  const s = new MyServer(pki().serverOptions);
  assert.ok(s instanceof https.Server);
  const port = await listen(s, 0, '127.0.0.1');
  assert.equal((await request(port)).body.toString(), 'sub');
  await close(s);
});

test('createServer registers the handler as an ordinary request listener', () => {
  const handler = () => {};
  const s = rhttps.createServer(pki().serverOptions, handler);
  assert.deepEqual(s.listeners('request'), [handler]);
  const s2 = rhttp.createServer(handler);
  assert.deepEqual(s2.listeners('request'), [handler]);
});

test('listen overloads: port+host+cb, options object, port 0, default host', async () => {
  const s1 = rhttps.createServer(pki().serverOptions);
  let listeningEvent = false;
  s1.on('listening', () => { listeningEvent = true; });
  await new Promise((resolve) => s1.listen(0, '127.0.0.1', 100, resolve));
  assert.equal(listeningEvent, true);
  assert.equal(s1.listening, true);
  assert.deepEqual(Object.keys(s1.address()).sort(), ['address', 'family', 'port']);
  assert.equal(s1.address().address, '127.0.0.1');
  assert.equal(s1.address().family, 'IPv4');
  assert.ok(s1.address().port > 0);
  await close(s1);
  assert.equal(s1.listening, false);
  assert.equal(s1.address(), null);

  const s2 = rhttps.createServer(pki().serverOptions, (req, res) => res.end('x'));
  await new Promise((resolve) => s2.listen({ port: 0, host: 'localhost' }, resolve));
  assert.ok(['127.0.0.1', '::1'].includes(s2.address().address));
  await close(s2);

  // Node's default host: the IPv6 any-address, dual-stack, reachable over IPv4 too.
  const s3 = rhttps.createServer(pki().serverOptions, (req, res) => res.end('dual'));
  const port = await listen(s3, 0);
  const node = https.createServer(pki().serverOptions);
  await listen(node, 0);
  assert.deepEqual({ ...s3.address(), port: 0 }, { ...node.address(), port: 0 });
  await close(node);
  assert.equal((await request(port, { host: '127.0.0.1' })).body.toString(), 'dual');
  assert.equal((await request(port, { host: '::1' })).body.toString(), 'dual');
  await close(s3);
});

test('EADDRINUSE is emitted asynchronously with the same shape node:https gives', async () => {
  const holder = net.createServer();
  await listen(holder, 0, '127.0.0.1');
  const port = holder.address().port;
  const errorOf = (server) => new Promise((resolve) => {
    let sync = true;
    server.once('error', (err) => resolve({ err, sync }));
    server.listen(port, '127.0.0.1');
    sync = false;
  });
  const ours = await errorOf(rhttps.createServer(pki().serverOptions));
  const theirs = await errorOf(https.createServer(pki().serverOptions));
  holder.close();
  assert.equal(ours.sync, false, 'error must not be emitted synchronously');
  for (const key of ['code', 'errno', 'syscall', 'address', 'port', 'message']) {
    assert.equal(ours.err[key], theirs.err[key], key);
  }
  assert.equal(ours.err.code, 'EADDRINUSE');
});

test('bad listen arguments throw synchronously with Node codes', () => {
  const s = rhttps.createServer(pki().serverOptions);
  assert.throws(() => s.listen(70000), { code: 'ERR_SOCKET_BAD_PORT', name: 'RangeError' });
  assert.throws(() => s.listen(-1), { code: 'ERR_SOCKET_BAD_PORT' });
  assert.throws(() => s.listen({ port: 1.5 }), { code: 'ERR_SOCKET_BAD_PORT' });
  assert.throws(() => s.listen(true), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('listening twice throws ERR_SERVER_ALREADY_LISTEN', async () => {
  const s = rhttps.createServer(pki().serverOptions);
  await listen(s, 0, '127.0.0.1');
  assert.throws(() => s.listen(0), { code: 'ERR_SERVER_ALREADY_LISTEN' });
  await close(s);
});

test('close() on a server that is not running calls back with ERR_SERVER_NOT_RUNNING', async () => {
  const s = rhttps.createServer(pki().serverOptions);
  const err = await new Promise((resolve) => s.close(resolve));
  assert.equal(err.code, 'ERR_SERVER_NOT_RUNNING');
});

test('close() closes idle keep-alive connections at once and busy ones after their response', async () => {
  let release;
  const s = rhttps.createServer(pki().serverOptions, (req, res) => {
    if (req.url === '/slow') release = () => res.end('slow done');
    else res.end('quick');
  });
  const port = await listen(s, 0, '127.0.0.1');
  const agent = new https.Agent({ keepAlive: true });
  await request(port, { agent, path: '/warm' });
  const idleSocket = Object.values(agent.freeSockets)[0][0];
  const idleClosed = new Promise((resolve) => idleSocket.once('close', resolve));
  const slow = request(port, { path: '/slow' });
  await until(() => release, 5000, 'the handler running');
  let closedAt = 0;
  const closed = new Promise((resolve) => s.close(() => { closedAt = Date.now(); resolve(); }));
  await idleClosed;
  assert.equal(closedAt, 0, 'close callback waits for the busy connection');
  // A new connection is refused once close() was called.
  await assert.rejects(request(port, { path: '/late' }), { code: 'ECONNREFUSED' });
  release();
  const r = await slow;
  assert.equal(r.body.toString(), 'slow done');
  await closed;
  assert.ok(closedAt > 0);
  agent.destroy();
});

test('closeAllConnections destroys every connection', async () => {
  const s = rhttps.createServer(pki().serverOptions, () => { /* never answers */ });
  const port = await listen(s, 0, '127.0.0.1');
  const pending = request(port).catch((e) => e);
  await until(async () => (await new Promise((r) => s.getConnections((e, n) => r(n)))) > 0, 5000, 'the connection open');
  s.closeAllConnections();
  const err = await pending;
  assert.ok(err instanceof Error);
  await new Promise((resolve) => s.close(resolve));
});

test('limits are live properties with Node 20 defaults', () => {
  const s = rhttps.createServer(pki().serverOptions);
  const n = https.createServer(pki().serverOptions);
  for (const key of ['headersTimeout', 'requestTimeout', 'keepAliveTimeout', 'maxHeaderSize', 'timeout', 'maxHeadersCount', 'maxRequestsPerSocket']) {
    assert.equal(s[key], key === 'maxHeaderSize' ? 16384 : n[key], key);
  }
  s.keepAliveTimeout = 65000;
  assert.equal(s.keepAliveTimeout, 65000);
});

test('bad options throw with Node codes', () => {
  assert.throws(() => rhttps.createServer({ ...pki().serverOptions, headersTimeout: 'x' }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => rhttps.createServer({ ...pki().serverOptions, requestTimeout: 1000, headersTimeout: 2000 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => rhttps.createServer({ ...pki().serverOptions, keepAliveTimeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => rhttps.createServer('nope'), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('bad key material makes createServer throw a clear error with a code', () => {
  const { leafCert, leafKey, otherKey } = pki();
  assert.throws(() => rhttps.createServer({ key: 'garbage', cert: leafCert }), (e) => e.code === 'ERR_OSSL_PEM_NO_START_LINE' && /PEM/.test(e.message));
  assert.throws(() => rhttps.createServer({ key: leafKey, cert: 'garbage' }), { code: 'ERR_OSSL_PEM_NO_START_LINE' });
  assert.throws(() => rhttps.createServer({ key: otherKey, cert: leafCert }), (e) => e.code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' && /does not belong/.test(e.message));
  assert.throws(() => rhttps.createServer({ key: 42, cert: leafCert }), (e) => e.code === 'ERR_INVALID_ARG_TYPE'
    && e.message.startsWith('The "options.key" property must be of type string or an instance of Buffer, TypedArray, or DataView.'));
  assert.throws(() => rhttps.createServer({ key: 42, cert: leafCert }), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('key, cert and ca accept strings, Buffers and arrays', async () => {
  const { leafKey, leafCert, intCert } = pki();
  for (const opts of [
    { key: leafKey.toString(), cert: leafCert.toString(), ca: intCert.toString() },
    { key: [leafKey], cert: [leafCert], ca: [intCert] },
    { key: leafKey, cert: Buffer.concat([leafCert, intCert]) },
  ]) {
    const s = rhttps.createServer(opts, (req, res) => res.end('ok'));
    const port = await listen(s, 0, '127.0.0.1');
    assert.equal((await request(port)).body.toString(), 'ok');
    await close(s);
  }
});

test('rhttps/http serves plain HTTP on the same engine', async () => {
  const s = rhttp.createServer((req, res) => res.end(`plain ${req.socket.encrypted === undefined}`));
  const port = await listen(s, 0, '127.0.0.1');
  const body = await new Promise((resolve, reject) => {
    http.get({ port, host: '127.0.0.1' }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  assert.equal(body, 'plain true');
  await close(s);
});

test('connection and secureConnection events carry the socket', async () => {
  const s = rhttps.createServer(pki().serverOptions, (req, res) => res.end('ok'));
  const seen = [];
  s.on('connection', (sock) => seen.push(['connection', sock.remoteAddress]));
  s.on('secureConnection', (sock) => seen.push(['secureConnection', sock.getProtocol()]));
  const port = await listen(s, 0, '127.0.0.1');
  await request(port);
  assert.deepEqual(seen, [['connection', '127.0.0.1'], ['secureConnection', 'TLSv1.3']]);
  // node:https answers ALPN with http/1.1 by default; a browser offering h2 too gets it.
  const alpn = await new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert, ALPNProtocols: ['h2', 'http/1.1'] },
      () => { resolve(sock.alpnProtocol); sock.end(); });
    sock.on('error', reject);
  });
  assert.equal(alpn, 'http/1.1');
  await close(s);
});

test('getCipher reports OpenSSL-style names like node:tls', async () => {
  let cipher;
  const s = rhttps.createServer(pki().serverOptions, (req, res) => { cipher = req.socket.getCipher(); res.end(); });
  const port = await listen(s, 0, '127.0.0.1');
  await request(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  assert.deepEqual(cipher, { name: 'ECDHE-ECDSA-AES128-GCM-SHA256', standardName: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', version: 'TLSv1.2' });
  await request(port);
  assert.equal(cipher.version, 'TLSv1.3');
  await close(s);
});

test('listen({ signal }) closes the server on abort', async () => {
  const ac = new AbortController();
  const s = rhttps.createServer(pki().serverOptions);
  await new Promise((resolve) => s.listen({ port: 0, host: '127.0.0.1', signal: ac.signal }, resolve));
  const closed = new Promise((resolve) => s.once('close', resolve));
  ac.abort();
  await closed;
  assert.equal(s.listening, false);
});

test('a raw TLS client sees TLS 1.2 and 1.3 both negotiated', async () => {
  const s = rhttps.createServer(pki().serverOptions, (req, res) => res.end(req.socket.getProtocol()));
  const port = await listen(s, 0, '127.0.0.1');
  for (const v of ['TLSv1.2', 'TLSv1.3']) {
    const r = await request(port, { minVersion: v, maxVersion: v });
    assert.equal(r.body.toString(), v);
  }
  await close(s);
  void rawTls;
});

test('encrypted PKCS#8 keys work with passphrase; wrong, missing and legacy-format keys say what to do', async () => {
  const { execFileSync } = require('node:child_process');
  const { leafKey, leafCert, intCert } = pki();
  const encrypted = execFileSync('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', 'pass:secret'], { input: leafKey });
  const legacy = execFileSync('openssl', ['ec', '-aes256', '-passout', 'pass:secret'], { input: leafKey, stdio: ['pipe', 'pipe', 'ignore'] });
  for (const options of [
    { key: encrypted, passphrase: 'secret' },
    { key: [{ pem: encrypted, passphrase: 'secret' }] },
  ]) {
    const s = rhttps.createServer({ ...options, cert: leafCert, ca: intCert }, (req, res) => res.end('decrypted'));
    const port = await listen(s, 0, '127.0.0.1');
    assert.equal((await request(port)).body.toString(), 'decrypted');
    await close(s);
  }
  // The same codes node:https gives for these keys.
  assert.throws(() => rhttps.createServer({ key: encrypted, cert: leafCert, passphrase: 'wrong' }),
    (e) => e.code === 'ERR_OSSL_BAD_DECRYPT' && /passphrase/.test(e.message));
  assert.throws(() => https.createServer({ key: encrypted, cert: leafCert, passphrase: 'wrong' }), { code: 'ERR_OSSL_BAD_DECRYPT' });
  assert.throws(() => rhttps.createServer({ key: encrypted, cert: leafCert }),
    (e) => e.code === 'ERR_OSSL_BAD_DECRYPT' && /passphrase/.test(e.message));
  assert.ok(rhttps.createServer({ key: legacy, cert: leafCert, passphrase: 'secret' }));
});

test('regression: after close() a busy keep-alive connection closed only at keepAliveTimeout', async () => {
  let release;
  const s = rhttps.createServer(pki().serverOptions, (req, res) => { release = () => res.end('done'); });
  const port = await listen(s, 0, '127.0.0.1');
  const agent = new https.Agent({ keepAlive: true });
  const answered = request(port, { agent });
  await until(() => release, 5000, 'the handler running');
  const closed = new Promise((resolve) => s.close(resolve));
  release();
  const r = await answered;
  assert.equal(r.headers.connection, 'keep-alive');
  // Without the fix the connection idled until keepAliveTimeout + 1 s (6 s).
  await within(closed, 2000, 'close() with the answered keep-alive connection');
  agent.destroy();
});

test('a server without key/cert is created as on node:https, and its handshakes fail with the same code', async () => {
  const codes = {};
  for (const [name, createServer] of [['node', https.createServer], ['rhttps', rhttps.createServer]]) {
    const s = createServer({}, (req, res) => res.end());
    const failed = new Promise((resolve) => s.once('tlsClientError', (err) => resolve(err.code)));
    const port = await listen(s, 0, '127.0.0.1');
    const client = require('node:tls').connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    const clientError = new Promise((resolve) => client.once('error', (err) => resolve(err.code)));
    codes[name] = await within(failed, 3000, `${name}: tlsClientError`);
    // The client fails too (its alert differs: rustls sends access_denied, OpenSSL handshake_failure).
    assert.match(await within(clientError, 3000, `${name}: the client's error`), /^ERR_SSL_/);
    await close(s);
  }
  assert.equal(codes.rhttps, codes.node);
});

test('a server with SNICallback and no key/cert of its own serves what the callback picks', async () => {
  const context = rhttps.createSecureContext(pki().serverOptions);
  const s = rhttps.createServer({ SNICallback: (name, cb) => cb(null, context) }, (req, res) => res.end(`for ${req.socket.servername}`));
  const port = await listen(s, 0, '127.0.0.1');
  try {
    const r = await within(request(port, { path: '/' }), 3000, 'a request');
    assert.equal(r.body.toString(), 'for localhost');
  } finally {
    await close(s);
  }
});
