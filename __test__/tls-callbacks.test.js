'use strict';
// SNICallback and ALPNCallback: the handshake waits at its ClientHello for the application.
// Each scenario runs on node:https too, and what clients and the server see must match.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const tls = require('node:tls');
const crypto = require('node:crypto');
const rhttps = require('..');
const { pki, listen, close, until } = require('./helpers');

const fingerprint = (pem) => new crypto.X509Certificate(pem).fingerprint256;

// One TLS connection; resolves with what the client saw (or its error code).
function connect(port, { servername, ALPNProtocols } = {}) {
  return new Promise((resolve) => {
    // The chain is checked; the test names are not the certificates' names.
    const checkServerIdentity = () => undefined;
    const sock = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols, ca: pki().rootCert, checkServerIdentity }, () => {
      const seen = { alpn: sock.alpnProtocol, cert: sock.getPeerCertificate().fingerprint256 };
      sock.end();
      resolve(seen);
    });
    sock.on('error', (e) => resolve({ error: e.code }));
  });
}

// Runs `scenario(port, log)` on both servers built from `options(createSecureContext)`; the
// log records callback calls and tlsClientError codes, in order.
async function onBoth(options, scenario) {
  const results = [];
  for (const [name, mod] of [['node', { createServer: https.createServer, createSecureContext: tls.createSecureContext }], ['rhttps', rhttps]]) {
    const log = [];
    const server = mod.createServer(options(mod.createSecureContext, log), (req, res) => res.end());
    server.on('tlsClientError', (err) => log.push(`tlsClientError ${err.code}`));
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const seen = await scenario(port, log);
      // tlsClientError can trail the client's view of the failure.
      await new Promise((r) => setTimeout(r, 100));
      results.push({ name, seen, log });
    } finally {
      await close(server);
    }
  }
  const [node, ours] = results;
  assert.deepEqual(ours.seen, node.seen, 'what clients see');
  assert.deepEqual(ours.log, node.log, 'callbacks and errors on the server');
  return ours;
}

test('SNICallback picks the certificate per server name, asynchronously, as on node:https', async () => {
  const p = pki();
  // Same key type as the default: see INTENTIONAL_DIFFERENCES.sniKeyTypes for the other case.
  const contexts = (create) => ({
    'two.test': create({ key: p.leaf2Key, cert: p.leaf2Cert, ca: p.intCert }),
  });
  const ours = await onBoth((create, log) => {
    const byName = contexts(create);
    return {
      ...p.serverOptions,
      SNICallback(name, cb) {
        log.push(`sni ${name}`);
        setTimeout(() => cb(null, byName[name]), 5);
      },
    };
  }, async (port) => [
    await connect(port, { servername: 'two.test' }),
    // No context for this name: the server's own certificate.
    await connect(port, { servername: 'other.test' }),
    // No server name, no callback.
    await connect(port, {}),
  ]);
  assert.deepEqual(ours.seen.map((s) => s.cert), [fingerprint(p.leaf2Cert), fingerprint(p.leafCert), fingerprint(p.leafCert)]);
  assert.deepEqual(ours.log, ['sni two.test', 'sni other.test']);
});

test('a context from SNICallback is served alone, even of another key type than the default', async () => {
  const p = pki();
  const rsa = rhttps.createSecureContext({ key: p.rsaKey, cert: p.rsaCert, ca: p.intCert });
  const server = rhttps.createServer({ ...p.serverOptions, SNICallback: (name, cb) => cb(null, name === 'rsa.test' ? rsa : null) });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    assert.equal((await connect(port, { servername: 'rsa.test' })).cert, fingerprint(p.rsaCert));
    assert.equal((await connect(port, { servername: 'localhost' })).cert, fingerprint(p.leafCert));
  } finally {
    await close(server);
  }
});

test('an SNICallback error ends the handshake and reaches tlsClientError with that error', async () => {
  const p = pki();
  const server = rhttps.createServer({ ...p.serverOptions, SNICallback: (name, cb) => cb(Object.assign(new Error(`no such host ${name}`), { code: 'EHOSTUNKNOWN' })) });
  const errors = [];
  server.on('tlsClientError', (err, socket) => errors.push([err.message, err.code, socket.remoteAddress]));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const seen = await connect(port, { servername: 'nope.test' });
    assert.ok(seen.error, 'the client does not connect');
    await until(() => errors.length > 0, 5000, 'errors reported');
    assert.deepEqual(errors, [['no such host nope.test', 'EHOSTUNKNOWN', '127.0.0.1']]);
  } finally {
    await close(server);
  }
});

test('SNICallback may answer with an options object; a node:tls SecureContext is refused clearly', async () => {
  const p = pki();
  const errors = [];
  const server = rhttps.createServer({
    ...p.serverOptions,
    SNICallback(name, cb) {
      if (name === 'plain.test') cb(null, { key: p.leaf2Key, cert: p.leaf2Cert, ca: p.intCert });
      else cb(null, tls.createSecureContext(p.serverOptions));
    },
  });
  server.on('tlsClientError', (err) => errors.push(err));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    assert.equal((await connect(port, { servername: 'plain.test' })).cert, fingerprint(p.leaf2Cert));
    assert.ok((await connect(port, { servername: 'node.test' })).error);
    await until(() => errors.length > 0, 5000, 'errors reported');
    assert.equal(errors[0].code, 'ERR_INVALID_ARG_VALUE');
    assert.match(errors[0].message, /rhttps\.createSecureContext/);
  } finally {
    await close(server);
  }
});

test('an SNICallback that never answers is ended by handshakeTimeout', async () => {
  const server = rhttps.createServer({ ...pki().serverOptions, handshakeTimeout: 300, SNICallback() {} });
  const codes = [];
  server.on('tlsClientError', (err) => codes.push(err.code));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    assert.ok((await connect(port, { servername: 'slow.test' })).error);
    await until(() => codes.length > 0, 5000, 'codes reported');
    assert.deepEqual(codes, ['ERR_TLS_HANDSHAKE_TIMEOUT']);
  } finally {
    await close(server);
  }
});

test('ALPNCallback selects or refuses the protocol, before SNICallback, as on node:https', async () => {
  const p = pki();
  const ours = await onBoth((create, log) => ({
    ...p.serverOptions,
    ALPNCallback({ servername, protocols }) {
      log.push(`alpn ${servername} ${protocols.join(',')}`);
      if (protocols.includes('refuse-me')) return undefined;
      return protocols.includes('h2') ? 'h2' : protocols[protocols.length - 1];
    },
    SNICallback(name, cb) {
      log.push(`sni ${name}`);
      cb(null, undefined);
    },
  }), async (port) => [
    await connect(port, { servername: 'a.test', ALPNProtocols: ['http/1.1', 'h2'] }),
    await connect(port, { servername: 'b.test', ALPNProtocols: ['spdy/3', 'acme-tls/1'] }),
    await connect(port, { servername: 'c.test', ALPNProtocols: ['refuse-me'] }),
    // No ALPN offered: no callback, no protocol.
    await connect(port, { servername: 'd.test' }),
  ]);
  assert.deepEqual(ours.seen.map((s) => s.alpn ?? s.error), ['h2', 'acme-tls/1', 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', false]);
  assert.ok(ours.log.includes('tlsClientError ERR_SSL_NO_APPLICATION_PROTOCOL'));
});

test('an ALPNCallback result the client did not offer is reported, not served', async () => {
  const server = rhttps.createServer({ ...pki().serverOptions, ALPNCallback: () => 'h3' });
  const errors = [];
  server.on('tlsClientError', (err) => errors.push(err));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    assert.ok((await connect(port, { servername: 'localhost', ALPNProtocols: ['h2'] })).error);
    await until(() => errors.length > 0, 5000, 'errors reported');
    assert.equal(errors[0].code, 'ERR_TLS_ALPN_CALLBACK_INVALID_RESULT');
    assert.match(errors[0].message, /h3.*h2/);
  } finally {
    await close(server);
  }
});

test('requests are served over handshakes answered by the callbacks', async () => {
  const p = pki();
  const server = rhttps.createServer({
    ...p.serverOptions,
    ALPNCallback: ({ protocols }) => protocols.find((x) => x === 'http/1.1'),
    SNICallback: (name, cb) => cb(null, rhttps.createSecureContext({ key: p.leaf2Key, cert: p.leaf2Cert, ca: p.intCert })),
  }, (req, res) => res.end(`${req.socket.servername} ${req.socket.alpnProtocol}`));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    for (let i = 0; i < 3; i++) {
      const body = await new Promise((resolve, reject) => {
        const options = { host: '127.0.0.1', port, servername: 'localhost', ca: p.rootCert, agent: false, ALPNProtocols: ['http/1.1'] };
        https.get(options, (res) => {
          let b = '';
          const cert = res.socket.getPeerCertificate().fingerprint256;
          res.on('data', (d) => { b += d; });
          res.on('end', () => resolve([b, cert]));
        }).on('error', reject);
      });
      assert.deepEqual(body, ['localhost http/1.1', fingerprint(p.leaf2Cert)]);
    }
  } finally {
    await close(server);
  }
});

test('a malformed ClientHello on a server with callbacks is a tlsClientError; the server keeps serving', async () => {
  const p = pki();
  const server = rhttps.createServer({ ...p.serverOptions, SNICallback: (name, cb) => cb(null, null) }, (req, res) => res.end('ok'));
  const codes = [];
  server.on('tlsClientError', (err) => codes.push(err.code));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    await new Promise((resolve) => {
      const sock = require('node:net').connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      sock.on('close', resolve);
      sock.on('error', () => {});
      sock.resume();
    });
    await until(() => codes.length > 0, 5000, 'codes reported');
    assert.ok(codes[0].startsWith('ERR_SSL_'), codes[0]);
    assert.equal((await connect(port, { servername: 'localhost' })).cert, fingerprint(p.leafCert));
  } finally {
    await close(server);
  }
});
