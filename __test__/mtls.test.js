'use strict';
// Client certificates: the matrix of client (none, valid, other CA, expired) x
// rejectUnauthorized x TLS version, run on node:https and rhttps with the same options; what
// each client sees and what the handler sees on req.socket must match.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const crypto = require('node:crypto');
const rhttps = require('..');
const { pki, listen, close } = require('./helpers');

function handler(req, res) {
  const s = req.socket;
  const peer = s.getPeerCertificate();
  res.end(JSON.stringify({
    authorized: s.authorized,
    authorizationError: s.authorizationError || null,
    subjectCN: peer && peer.subject ? peer.subject.CN : null,
    issuerCN: peer && peer.issuer ? peer.issuer.CN : null,
    fingerprint256: peer ? peer.fingerprint256 || null : null,
  }));
}

function attempt(port, client, version) {
  return new Promise((resolve) => {
    const req = https.get({
      host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert, agent: false,
      minVersion: version, maxVersion: version, ...(client || {}),
    }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(JSON.parse(b)));
      res.on('error', () => resolve('refused'));
    });
    req.on('error', () => resolve('refused'));
  });
}

test('mTLS matrix matches node:https', async () => {
  const p = pki();
  // Wait until the certificate made with -days 0 has really expired.
  const expiry = new Date(new crypto.X509Certificate(p.clients.expired.cert).validTo).getTime();
  while (Date.now() <= expiry + 1000) await new Promise((r) => setTimeout(r, 100));
  const clients = { none: null, valid: p.clients.client, otherCa: p.clients.stranger, expired: p.clients.expired };
  for (const rejectUnauthorized of [true, false]) {
    const options = {
      key: p.leafKey, cert: Buffer.concat([p.leafCert, p.intCert]), ca: p.clientCaCert,
      requestCert: true, rejectUnauthorized,
    };
    const ours = rhttps.createServer(options, handler);
    const theirs = https.createServer(options, handler);
    const ourPort = await listen(ours, 0, '127.0.0.1');
    const theirPort = await listen(theirs, 0, '127.0.0.1');
    try {
      for (const version of ['TLSv1.2', 'TLSv1.3']) {
        for (const [name, client] of Object.entries(clients)) {
          const label = `${name}, rejectUnauthorized=${rejectUnauthorized}, ${version}`;
          const a = await attempt(ourPort, client, version);
          const b = await attempt(theirPort, client, version);
          assert.deepEqual(a, b, label);
          if (name === 'valid') assert.equal(a.authorized, true, label);
          if (name !== 'valid' && rejectUnauthorized) assert.equal(a, 'refused', label);
        }
      }
    } finally {
      await close(ours);
      await close(theirs);
    }
  }
});

test('getPeerCertificate(true) links the chain a client sent', async () => {
  const p = pki();
  let seen;
  const server = rhttps.createServer({ ...p.serverOptions, ca: [p.intCert, p.clientCaCert], requestCert: true }, (req, res) => {
    const leaf = req.socket.getPeerCertificate(true);
    seen = { cn: leaf.subject.CN, raw: Buffer.isBuffer(leaf.raw), serial: leaf.serialNumber, x509: req.socket.getX509Certificate().subject,
      issuerLinked: leaf.issuerCertificate && leaf.issuerCertificate.subject.CN };
    res.end('{}');
  });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    await attempt(port, { key: p.clients.client.key, cert: Buffer.concat([p.clients.client.cert, p.clientCaCert]) }, 'TLSv1.3');
    assert.equal(seen.cn, 'client');
    assert.equal(seen.raw, true);
    assert.match(seen.serial, /^[0-9A-F]+$/);
    assert.equal(seen.x509, 'CN=client');
    assert.equal(seen.issuerLinked, 'clientca');
  } finally {
    await close(server);
  }
});
