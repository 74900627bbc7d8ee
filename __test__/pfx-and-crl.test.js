'use strict';
// PKCS#12 archives (`pfx`) as the server's identity, and revocation lists (`crl`) checked
// against client certificates; results compared with node:https given the same options.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const rhttps = require('..');
const { pki, listen, close } = require('./helpers');

const fingerprint = (pem) => new crypto.X509Certificate(pem).fingerprint256;

function openssl(dir, ...args) {
  return execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

let material = null;

// Archives of the test leaf (with its intermediate) and a revocation list from the client CA.
function pfxAndCrl() {
  if (material) return material;
  const p = pki();
  const dir = p.dir;
  const read = (f) => fs.readFileSync(path.join(dir, f));
  const exportPfx = (out, pass, ...extra) => openssl(dir, 'pkcs12', '-export', '-inkey', 'leaf.key', '-in', 'leaf.crt',
    '-certfile', 'int.crt', '-out', out, '-passout', `pass:${pass}`, ...extra);
  exportPfx('leaf.pfx', 'secret');
  exportPfx('open.pfx', '');
  exportPfx('legacy.pfx', 'secret', '-legacy');
  // A second good client, then revoke the first one.
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'client2.key', '-out', 'client2.csr', '-subj', '/CN=client2');
  openssl(dir, 'x509', '-req', '-in', 'client2.csr', '-CA', 'clientca.crt', '-CAkey', 'clientca.key', '-CAcreateserial',
    '-out', 'client2.crt', '-days', '30', '-extfile', 'client.ext');
  fs.writeFileSync(path.join(dir, 'crlca.cnf'), '[ca]\ndefault_ca=crl\n[crl]\ndatabase=index.txt\ncrlnumber=crlnumber\n'
    + 'default_md=sha256\ndefault_crl_days=30\ncertificate=clientca.crt\nprivate_key=clientca.key\n');
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'crlnumber'), '01\n');
  openssl(dir, 'ca', '-config', 'crlca.cnf', '-revoke', 'client.crt');
  openssl(dir, 'ca', '-config', 'crlca.cnf', '-gencrl', '-out', 'client.crl');
  openssl(dir, 'ca', '-config', 'crlca.cnf', '-gencrl', '-crlsec', '1', '-out', 'stale.crl');
  material = {
    pfx: read('leaf.pfx'),
    openPfx: read('open.pfx'),
    legacyPfx: read('legacy.pfx'),
    crl: read('client.crl'),
    staleCrl: read('stale.crl'),
    client2: { key: read('client2.key'), cert: read('client2.crt') },
  };
  return material;
}

// A GET trusting only the test root; resolves with the served leaf or the error code.
function get(port, extra = {}) {
  return new Promise((resolve) => {
    https.get({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert, agent: false, ...extra }, (res) => {
      const leaf = res.socket.getPeerCertificate().fingerprint256;
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ leaf, body }));
    }).on('error', (e) => resolve({ error: e.code }));
  });
}

async function serve(mod, options, handler, fn) {
  const server = mod.createServer(options, handler || ((req, res) => res.end('ok')));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    return await fn(port);
  } finally {
    await close(server);
  }
}

test('a pfx with its passphrase serves the leaf and its chain, as on node:https', async () => {
  const m = pfxAndCrl();
  for (const options of [{ pfx: m.pfx, passphrase: 'secret' }, { pfx: [{ buf: m.pfx, passphrase: 'secret' }] }, { pfx: m.openPfx }]) {
    const ours = await serve(rhttps, options, null, (port) => get(port));
    const theirs = await serve(https, options, null, (port) => get(port));
    assert.deepEqual(ours, theirs);
    assert.deepEqual(ours, { leaf: fingerprint(pki().leafCert), body: 'ok' }, 'the client verified the chain up to the root');
  }
});

test('pfx and PEM key/cert together: each client gets the pair it can verify', async () => {
  const p = pki();
  const m = pfxAndCrl();
  const options = { pfx: m.pfx, passphrase: 'secret', key: p.rsaKey, cert: Buffer.concat([p.rsaCert, p.intCert]) };
  await serve(rhttps, options, null, async (port) => {
    const ecdsaOnly = await get(port, { sigalgs: 'ecdsa_secp256r1_sha256' });
    assert.equal(ecdsaOnly.leaf, fingerprint(p.leafCert));
    const rsaOnly = await get(port, { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
    assert.equal(rsaOnly.leaf, fingerprint(p.rsaCert));
  });
});

test('a wrong or missing pfx passphrase, a legacy archive and a non-archive fail at createServer', () => {
  const m = pfxAndCrl();
  assert.throws(() => rhttps.createServer({ pfx: m.pfx, passphrase: 'wrong' }),
    (e) => e.code === 'ERR_OSSL_PKCS12_MAC_VERIFY_FAILURE' && /mac verify failure.*passphrase/.test(e.message));
  assert.throws(() => rhttps.createServer({ pfx: m.pfx }), { code: 'ERR_OSSL_PKCS12_MAC_VERIFY_FAILURE' });
  assert.throws(() => rhttps.createServer({ pfx: [{ buf: m.pfx, passphrase: 'wrong' }], passphrase: 'secret' }), { code: 'ERR_OSSL_PKCS12_MAC_VERIFY_FAILURE' });
  // Node 20 refuses legacy archives too; rhttps says how to re-export them.
  assert.throws(() => https.createServer({ pfx: m.legacyPfx, passphrase: 'secret' }), { code: 'ERR_CRYPTO_UNSUPPORTED_OPERATION' });
  assert.throws(() => rhttps.createServer({ pfx: m.legacyPfx, passphrase: 'secret' }),
    (e) => e.code === 'ERR_CRYPTO_UNSUPPORTED_OPERATION' && /openssl pkcs12 -legacy/.test(e.message));
  assert.throws(() => rhttps.createServer({ pfx: pki().leafCert }), (e) => e.code === 'ERR_RHTTPS_PFX_INVALID' && /not a PKCS#12/.test(e.message));
  assert.throws(() => rhttps.createServer({ pfx: [{ buf: m.pfx, passphrase: 7 }] }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.ok(rhttps.createSecureContext({ pfx: m.pfx, passphrase: 'secret' }));
});

function whoAmI(req, res) {
  res.end(JSON.stringify({ authorized: req.socket.authorized, error: req.socket.authorizationError || null }));
}

async function clientResults(mod, options, clients) {
  return serve(mod, options, whoAmI, async (port) => {
    const out = {};
    for (const [name, client] of Object.entries(clients)) {
      const r = await get(port, client);
      out[name] = r.error ? 'refused' : JSON.parse(r.body);
    }
    return out;
  });
}

test('crl: a revoked client certificate is refused or reported as CERT_REVOKED, as on node:https', async () => {
  const p = pki();
  const m = pfxAndCrl();
  const clients = { revoked: p.clients.client, good: m.client2, otherCa: p.clients.stranger, none: {} };
  for (const rejectUnauthorized of [false, true]) {
    const options = { ...p.serverOptions, ca: [p.intCert, p.clientCaCert], requestCert: true, rejectUnauthorized, crl: m.crl };
    const ours = await clientResults(rhttps, options, clients);
    const theirs = await clientResults(https, options, clients);
    assert.deepEqual(ours, theirs, `rejectUnauthorized=${rejectUnauthorized}`);
    if (rejectUnauthorized) {
      assert.equal(ours.revoked, 'refused');
      assert.deepEqual(ours.good, { authorized: true, error: null });
    } else {
      assert.deepEqual(ours.revoked, { authorized: false, error: 'CERT_REVOKED' });
    }
  }
});

test('crl: a list past its next update fails every client with CRL_HAS_EXPIRED, as on node:https', async () => {
  const p = pki();
  const m = pfxAndCrl();
  const stale = m.staleCrl;
  // The list was made valid for one second.
  await new Promise((r) => setTimeout(r, 2100));
  const options = { ...p.serverOptions, ca: [p.intCert, p.clientCaCert], requestCert: true, rejectUnauthorized: false, crl: stale };
  const clients = { good: m.client2 };
  const ours = await clientResults(rhttps, options, clients);
  const theirs = await clientResults(https, options, clients);
  assert.deepEqual(ours, theirs);
  assert.deepEqual(ours.good, { authorized: false, error: 'CRL_HAS_EXPIRED' });
});
