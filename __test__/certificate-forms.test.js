'use strict';
// Every key and certificate form Node 20 serves, made with the openssl CLI at test time, is
// served by rhttps too: each form goes to node:https and to rhttps, and a client that trusts
// only that certificate must complete a request against both.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const rhttps = require('..');
const { listen, close, within, tempDir } = require('./helpers');

const dir = tempDir('forms');
const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');

// A self-signed X.509 v1 certificate for `key` (`openssl x509 -req` without extensions).
function v1(keyFile, name) {
  openssl('req', '-new', '-key', keyFile, '-out', `${name}.csr`, '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', `${name}.csr`, '-signkey', keyFile, '-out', `${name}.crt`, '-days', '2');
  return read(`${name}.crt`);
}

// A self-signed X.509 v3 certificate with a subjectAltName.
function v3(keyFile, name) {
  openssl('req', '-x509', '-new', '-key', keyFile, '-out', `${name}.crt`, '-subj', '/CN=localhost', '-days', '2',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  return read(`${name}.crt`);
}

function forms() {
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa-pkcs8.key');
  openssl('rsa', '-in', 'rsa-pkcs8.key', '-traditional', '-out', 'rsa-pkcs1.key');
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec-sec1.key');
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-out', 'ec-sec1-params.key');
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', 'ec-sec1.key', '-out', 'ec-pkcs8.key');
  const out = {
    'RSA PKCS#8 key, X.509 v3 certificate': { key: read('rsa-pkcs8.key'), cert: v3('rsa-pkcs8.key', 'rsa-v3') },
    'RSA PKCS#8 key, X.509 v1 certificate': { key: read('rsa-pkcs8.key'), cert: v1('rsa-pkcs8.key', 'rsa-v1') },
    'RSA PKCS#1 key, X.509 v1 certificate': { key: read('rsa-pkcs1.key'), cert: v1('rsa-pkcs1.key', 'rsa1-v1') },
    'EC SEC1 key, X.509 v1 certificate': { key: read('ec-sec1.key'), cert: v1('ec-sec1.key', 'ec-v1') },
    'EC SEC1 key with an EC PARAMETERS block, X.509 v3 certificate': { key: read('ec-sec1-params.key'), cert: v3('ec-sec1-params.key', 'ecp-v3') },
    'EC PKCS#8 key, X.509 v1 certificate': { key: read('ec-pkcs8.key'), cert: v1('ec-pkcs8.key', 'ec8-v1') },
  };
  const v3rsa = out['RSA PKCS#8 key, X.509 v3 certificate'];
  out['CRLF line endings'] = { key: v3rsa.key.replace(/\n/g, '\r\n'), cert: v3rsa.cert.replace(/\n/g, '\r\n') };
  out['text around the PEM blocks'] = { key: `my key\n${v3rsa.key}trailing words\n`, cert: `Subject: localhost\n${v3rsa.cert}\n-- end --\n` };
  out['key and certificate in one file, as Buffers'] = { key: Buffer.from(v3rsa.key + v3rsa.cert), cert: Buffer.from(v3rsa.key + v3rsa.cert) };
  out['key and certificate in arrays'] = { key: [v3rsa.key], cert: [Buffer.from(v3rsa.cert)] };
  // Encrypted keys, opened with `passphrase`: encrypted PKCS#8 and OpenSSL's traditional
  // `Proc-Type: 4,ENCRYPTED` PEM with each cipher `openssl rsa`/`openssl ec` offer for it.
  openssl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'rsa-pkcs8.key', '-passout', 'pass:pw', '-out', 'rsa-enc8.key');
  out['encrypted PKCS#8 RSA key with passphrase'] = { key: read('rsa-enc8.key'), cert: v3rsa.cert, passphrase: 'pw' };
  for (const cipher of ['aes256', 'aes128', 'des3']) {
    openssl('rsa', '-in', 'rsa-pkcs8.key', '-traditional', `-${cipher}`, '-passout', 'pass:pw', '-out', `rsa-${cipher}.key`);
    out[`legacy encrypted PEM RSA key (${cipher}) with passphrase`] = { key: read(`rsa-${cipher}.key`), cert: v3rsa.cert, passphrase: 'pw' };
  }
  openssl('ec', '-in', 'ec-sec1.key', '-aes128', '-passout', 'pass:pw', '-out', 'ec-aes128.key');
  out['legacy encrypted PEM EC key (aes128) with passphrase, per key'] = {
    key: [{ pem: read('ec-aes128.key'), passphrase: 'pw' }], cert: out['EC SEC1 key, X.509 v1 certificate'].cert,
  };
  // PKCS#12 with AES (OpenSSL 3's default) and with 3DES (OpenSSL 1.x's and many tools').
  openssl('pkcs12', '-export', '-inkey', 'rsa-pkcs8.key', '-in', 'rsa-v3.crt', '-out', 'aes.pfx', '-passout', 'pass:pw');
  openssl('pkcs12', '-export', '-inkey', 'rsa-pkcs8.key', '-in', 'rsa-v3.crt', '-out', '3des.pfx', '-passout', 'pass:pw',
    '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1');
  const pfx = (f) => fs.readFileSync(path.join(dir, f));
  out['PKCS#12 with AES'] = { pfx: pfx('aes.pfx'), passphrase: 'pw', cert: v3rsa.cert };
  out['PKCS#12 with 3DES, in an array'] = { pfx: [{ buf: pfx('3des.pfx'), passphrase: 'pw' }], cert: v3rsa.cert };
  return out;
}

// A request that trusts only `cert`; resolves with the body or the error's code.
async function attempt(createServer, options, cert) {
  let server;
  try {
    server = createServer(options, (req, res) => res.end('served'));
  } catch (err) {
    return `createServer threw ${err.code}`;
  }
  const port = await listen(server, 0, '127.0.0.1');
  try {
    return await within(new Promise((resolve) => {
      https.get({ host: '127.0.0.1', port, servername: 'localhost', ca: cert, agent: false,
        // v1 certificates have no subjectAltName: Node checks the CN against the servername.
        checkServerIdentity: (host, peer) => (peer.subject.CN === 'localhost' ? undefined : new Error(`CN ${peer.subject.CN}`)) }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve(body));
      }).on('error', (err) => resolve(`request failed ${err.code}`));
    }), 5000, 'a request');
  } finally {
    await close(server);
  }
}

const all = forms();
for (const [name, options] of Object.entries(all)) {
  test(`serves as node:https does: ${name}`, async () => {
    const cert = Array.isArray(options.cert) ? options.cert[0] : options.cert;
    // A pfx form's `cert` is only what the client trusts.
    const served = options.pfx ? { pfx: options.pfx, passphrase: options.passphrase } : options;
    const theirs = await attempt(https.createServer, served, cert);
    assert.equal(theirs, 'served', 'node:https serves this form');
    assert.equal(await attempt(rhttps.createServer, served, cert), theirs);
  });
}

// A wrong passphrase decrypts to garbage whose CBC padding is valid about once in 256
// passphrases; OpenSSL then fails in its key decoder (ERR_OSSL_UNSUPPORTED) instead of at the
// padding check. Keys are made afresh each run, so node:https is only required to refuse it.
test('a wrong or missing passphrase for a legacy encrypted PEM key fails as on node:https', () => {
  for (const cipher of ['aes256', 'des3']) {
    const options = all[`legacy encrypted PEM RSA key (${cipher}) with passphrase`];
    assert.throws(() => https.createServer({ ...options, passphrase: undefined }), { code: 'ERR_OSSL_BAD_DECRYPT' });
    assert.throws(() => https.createServer({ ...options, passphrase: 'wrong' }), { code: /^ERR_OSSL_/ });
    for (const passphrase of ['wrong', undefined]) {
      const opts = { ...options, passphrase };
      assert.throws(() => rhttps.createServer(opts), (e) => e.code === 'ERR_OSSL_BAD_DECRYPT' && /passphrase/.test(e.message));
    }
  }
});

// Regression: CI run of 2026-12-02, where "wrong" happened to pass the padding check. rhttps
// said the PEM block was broken; the passphrase is what the user has to fix.
test('a wrong passphrase whose decryption passes the padding check by chance is reported as a wrong passphrase', () => {
  for (const cipher of ['aes128', 'des3']) {
    const { key, cert } = all[`legacy encrypted PEM RSA key (${cipher}) with passphrase`];
    let lucky;
    for (let i = 0; i < 20000 && lucky === undefined; i++) {
      try {
        crypto.createPrivateKey({ key, passphrase: `wrong${i}` });
      } catch (err) {
        if (err.code !== 'ERR_OSSL_BAD_DECRYPT') lucky = `wrong${i}`;
      }
    }
    assert.ok(lucky, `a passphrase that gets past ${cipher}'s padding check (1 in ~256)`);
    assert.throws(() => https.createServer({ key, cert, passphrase: lucky }), (e) => e.code !== 'ERR_OSSL_BAD_DECRYPT');
    assert.throws(() => rhttps.createServer({ key, cert, passphrase: lucky }),
      (e) => e.code === 'ERR_OSSL_BAD_DECRYPT' && /passphrase/.test(e.message));
  }
});
