'use strict';
// The node:https TLS options rhttps honours, seen by real TLS clients, and a clear error for
// each option it cannot honour.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const https = require('node:https');
const tls = require('node:tls');
const { execFile } = require('node:child_process');
const rhttps = require('..');
const { pki, listen, close, withServer, request, until } = require('./helpers');

const fingerprint = (pem) => new crypto.X509Certificate(pem).fingerprint256;

function handshake(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert, ...opts }, () => {
      const info = {
        protocol: sock.getProtocol(),
        cipher: sock.getCipher().name,
        alpn: sock.alpnProtocol,
        fingerprint: sock.getPeerCertificate().fingerprint256,
      };
      sock.end();
      resolve(info);
    });
    sock.on('error', reject);
  });
}

test('minVersion and maxVersion bound the protocol', async () => {
  await withServer(null, async (port) => {
    await assert.rejects(handshake(port, { maxVersion: 'TLSv1.2' }));
    assert.equal((await handshake(port)).protocol, 'TLSv1.3');
  }, { minVersion: 'TLSv1.3' });
  await withServer(null, async (port) => {
    assert.equal((await handshake(port)).protocol, 'TLSv1.2');
  }, { maxVersion: 'TLSv1.2' });
});

test('ciphers in OpenSSL syntax choose the TLS 1.2 suites, server order first', async () => {
  await withServer(null, async (port) => {
    const info = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305' });
    assert.equal(info.cipher, 'ECDHE-ECDSA-CHACHA20-POLY1305');
  }, { ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384' });
  await withServer(null, async (port) => {
    const info = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305' });
    assert.equal(info.cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384', 'honorCipherOrder: false follows the client');
  }, { ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384', honorCipherOrder: false });
  // Node's default cipher string is accepted as is.
  await withServer(null, async (port) => assert.equal((await handshake(port)).protocol, 'TLSv1.3'), { ciphers: tls.DEFAULT_CIPHERS });
});

test('ecdhCurve picks the key-exchange group; X25519MLKEM768 is first by default', async () => {
  const group = (port, curve) => new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-groups', curve],
      { timeout: 5000 }, (err, out) => resolve((out.match(/Server Temp Key: ([^\n]+)/) || [])[1]));
    child.stdin.end();
  });
  await withServer(null, async (port) => {
    assert.match(await group(port, 'P-384:P-256'), /prime256v1|P-256/);
  }, { ecdhCurve: 'prime256v1' });
  let seen;
  await withServer((req, res) => { seen = req.socket.getEphemeralKeyInfo(); res.end(); }, async (port) => {
    await request(port);
    assert.deepEqual(seen, { type: 'ECDH', name: 'X25519', size: 253 }, 'Node\'s client offers X25519 (OpenSSL 3.0 has no ML-KEM)');
  });
});

test('ALPNProtocols lists what the server offers', async () => {
  await withServer(null, async (port) => {
    assert.equal((await handshake(port, { ALPNProtocols: ['h2', 'x-custom/1'] })).alpn, 'x-custom/1');
  }, { ALPNProtocols: ['x-custom/1', 'http/1.1'] });
});

test('several key types at once: each client gets a chain it can verify', async () => {
  const p = pki();
  await withServer((req, res) => res.end('ok'), async (port) => {
    const rsa = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
    assert.equal(rsa.fingerprint, fingerprint(p.rsaCert));
    const ec = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    assert.equal(ec.fingerprint, fingerprint(p.leafCert));
  }, { key: [p.rsaKey, p.leafKey], cert: [p.leafCert, p.rsaCert], ca: p.intCert });
});

test('setSecureContext rotates the certificate under a steady stream of new connections', async () => {
  const p = pki();
  const server = rhttps.createServer(p.serverOptions, (req, res) => res.end('ok'));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const seen = [];
    let failures = 0;
    const stream = (async () => {
      for (let i = 0; i < 120; i++) {
        try {
          seen.push((await handshake(port)).fingerprint);
        } catch {
          failures++;
        }
      }
    })();
    await until(() => seen.length >= 40, 10000, '40 handshakes before the rotation');
    server.setSecureContext({ key: p.leaf2Key, cert: p.leaf2Cert });
    await stream;
    assert.equal(failures, 0, 'no failed handshake during rotation');
    const first = fingerprint(p.leafCert);
    const second = fingerprint(p.leaf2Cert);
    const switchAt = seen.indexOf(second);
    assert.ok(switchAt > 0, 'new handshakes see the new certificate');
    assert.ok(seen.slice(switchAt).every((f) => f === second), 'and keep seeing it');
    assert.ok(seen.slice(0, switchAt).every((f) => f === first));
    // ca was kept from the original options: the chain still verifies against the root.
  } finally {
    await close(server);
  }
});

test('addContext serves another certificate by SNI, with wildcards; createSecureContext works with it', async () => {
  const p = pki();
  const server = rhttps.createServer(p.serverOptions, (req, res) => res.end(req.socket.servername || 'none'));
  server.addContext('*.rotated.test', rhttps.createSecureContext({ key: p.leaf2Key, cert: p.leaf2Cert, ca: p.intCert }));
  server.addContext('plain.test', { key: p.rsaKey, cert: p.rsaCert, ca: p.intCert });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const id = (servername) => handshake(port, { servername, checkServerIdentity: () => undefined });
    assert.equal((await id('a.rotated.test')).fingerprint, fingerprint(p.leaf2Cert));
    assert.equal((await id('plain.test')).fingerprint, fingerprint(p.rsaCert));
    assert.equal((await id('localhost')).fingerprint, fingerprint(p.leafCert));
    assert.equal((await id('x.y.rotated.test')).fingerprint, fingerprint(p.leafCert), '* covers one label');
  } finally {
    await close(server);
  }
});

test('each TLS option rhttps cannot honour fails at createServer with what to do', () => {
  const base = pki().serverOptions;
  const cases = [
    [{ minVersion: 'TLSv1' }, 'ERR_TLS_INVALID_PROTOCOL_VERSION', /insecure/],
    [{ maxVersion: 'TLSv1.1' }, 'ERR_TLS_INVALID_PROTOCOL_VERSION', /TLSv1\.2/],
    [{ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' }, 'ERR_TLS_INVALID_PROTOCOL_VERSION', /greater/],
    [{ ciphers: 'RC4-SHA:DES-CBC3-SHA' }, 'ERR_SSL_NO_CIPHER_MATCH', /ECDHE-RSA-AES128-GCM-SHA256/],
    [{ ecdhCurve: 'brainpoolP256r1' }, 'ERR_TLS_INVALID_ECDH_CURVE', /X25519MLKEM768/],
    [{ secureProtocol: 'TLSv1_method' }, 'ERR_TLS_INVALID_PROTOCOL_VERSION', /insecure/],
    [{ SNICallback: 'host' }, 'ERR_INVALID_ARG_TYPE', /options\.SNICallback/],
    [{ ALPNCallback: 5 }, 'ERR_INVALID_ARG_TYPE', /options\.ALPNCallback/],
    [{ ALPNCallback: () => {}, ALPNProtocols: ['h2'] }, 'ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS', /mutually exclusive/],
    [{ pfx: Buffer.from('not an archive') }, 'ERR_RHTTPS_PFX_INVALID', /PKCS#12/],
    [{ requestCert: true, ca: pki().clientCaCert, crl: 'not a crl' }, 'ERR_CRYPTO_OPERATION_FAILED', /BEGIN X509 CRL/],
    [{ crl: 5 }, 'ERR_INVALID_ARG_TYPE', /options\.crl/],
    [{ crl: '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n' }, 'ERR_CRYPTO_OPERATION_FAILED', /Failed to parse CRL/],
    [{ pskCallback: () => null }, 'ERR_RHTTPS_UNSUPPORTED_OPTION', /requestCert/],
    [{ secureContext: tls.createSecureContext(base) }, 'ERR_INVALID_ARG_VALUE', /rhttps\.createSecureContext/],
    [{ ticketKeys: Buffer.alloc(47) }, 'ERR_INVALID_ARG_VALUE', /48-byte/],
    [{ sessionTimeout: -1 }, 'ERR_OUT_OF_RANGE', /options\.sessionTimeout/],
  ];
  for (const [extra, code, message] of cases) {
    assert.throws(() => rhttps.createServer({ ...base, ...extra }), (e) => e.code === code && message.test(e.message),
      `${JSON.stringify(Object.keys(extra))} should throw ${code}`);
  }
  assert.throws(() => rhttps.createSecureContext({ key: 'nope', cert: base.cert }), { code: 'ERR_OSSL_PEM_NO_START_LINE' });
  const server = rhttps.createServer(base);
  assert.throws(() => server.addContext('x.test', tls.createSecureContext(base)), /rhttps\.createSecureContext/);
  void https;
});

test('sessions resume across two servers sharing ticketKeys, and not otherwise', async () => {
  const p = pki();
  const ticketKeys = crypto.randomBytes(48);
  const reusedOn = [];
  const handler = (req, res) => { reusedOn.push(req.socket.isSessionReused()); res.end(); };
  const a = rhttps.createServer({ ...p.serverOptions, ticketKeys }, handler);
  const b = rhttps.createServer({ ...p.serverOptions, ticketKeys }, handler);
  const stranger = rhttps.createServer(p.serverOptions, handler);
  const [portA, portB, portC] = [await listen(a, 0, '127.0.0.1'), await listen(b, 0, '127.0.0.1'), await listen(stranger, 0, '127.0.0.1')];
  const connect = (port, session) => new Promise((resolve, reject) => {
    let ticket;
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: p.rootCert, session }, () => {
      sock.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    sock.on('session', (s) => { ticket = s; });
    sock.on('data', () => {});
    sock.on('end', () => resolve({ ticket, reused: sock.isSessionReused() }));
    sock.on('error', reject);
  });
  try {
    assert.equal(a.getTicketKeys().length, 48);
    assert.ok(a.getTicketKeys().equals(ticketKeys));
    const first = await connect(portA);
    assert.ok(first.ticket, 'a session ticket was issued');
    assert.equal(first.reused, false);
    assert.equal((await connect(portB, first.ticket)).reused, true, 'server B resumes server A\'s session');
    assert.equal((await connect(portC, first.ticket)).reused, false, 'other keys: a full handshake');
    assert.deepEqual(reusedOn, [false, true, false], 'req.socket.isSessionReused() agrees');
    stranger.setTicketKeys(ticketKeys);
    assert.equal((await connect(portC, first.ticket)).reused, true, 'after setTicketKeys the stranger resumes too');
    assert.throws(() => a.setTicketKeys(Buffer.alloc(47)), { code: 'ERR_INVALID_ARG_VALUE' });
  } finally {
    await close(a);
    await close(b);
    await close(stranger);
  }
});

test("'keylog' gives the same NSS key-log lines the client logs, for TLS 1.2 and 1.3", async () => {
  const serverLines = [];
  await withServer((req, res) => res.end(), async (port, server) => {
    server.on('keylog', (line, socket) => serverLines.push([line.toString(), socket.remotePort]));
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      serverLines.length = 0;
      const clientLines = [];
      let clientPort;
      await new Promise((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert, minVersion: version, maxVersion: version }, () => {
          clientPort = sock.localPort;
          sock.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        });
        sock.on('keylog', (line) => clientLines.push(line.toString()));
        sock.on('data', () => {});
        sock.on('close', resolve);
        sock.on('error', reject);
      });
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(serverLines.length > 0, version);
      for (const [line, remotePort] of serverLines) {
        assert.match(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+\n$/);
        assert.equal(remotePort, clientPort);
      }
      const ours = serverLines.map(([l]) => l).filter((l) => !l.startsWith('EXPORTER_SECRET')).sort();
      const theirs = clientLines.filter((l) => !l.startsWith('EXPORTER_SECRET')).sort();
      assert.deepEqual(ours, theirs, `${version}: both ends log the same secrets`);
    }
  });
});

test('secureContext from rhttps.createSecureContext serves in place of key and cert', async () => {
  const p = pki();
  const secureContext = rhttps.createSecureContext({ key: p.leaf2Key, cert: p.leaf2Cert, ca: p.intCert });
  const server = rhttps.createServer({ secureContext }, (req, res) => res.end('ok'));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const leaf = await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, servername: 'localhost', ca: p.rootCert, agent: false }, (res) => {
        resolve(res.socket.getPeerCertificate().fingerprint256);
        res.resume();
      }).on('error', reject);
    });
    assert.equal(leaf, new crypto.X509Certificate(p.leaf2Cert).fingerprint256);
  } finally {
    await close(server);
  }
});
