'use strict';
// The TLS baseline seen by a different TLS stack: OpenSSL's s_client.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const https = require('node:https');
const rhttps = require('..');
const { pki, listen, close, within } = require('./helpers');

function sClient(port, extra, input) {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost',
      '-CAfile', `${pki().dir}/root.crt`, '-verify_return_error', '-msg', '-ign_eof', ...extra],
    { timeout: 10000 }, (err, stdout, stderr) => resolve(stdout + stderr));
    child.stdin.end(input);
  });
}

const REQUEST = 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';

test('s_client verifies the chain, gets the server\'s preferred suite, and sees close_notify', async () => {
  const s = rhttps.createServer(pki().serverOptions, (req, res) => res.end('hi'));
  const port = await listen(s, 0, '127.0.0.1');
  try {
    const out = await sClient(port, ['-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384'], REQUEST);
    assert.match(out, /Verify return code: 0 \(ok\)/);
    assert.match(out, /New, TLSv1\.3, Cipher is TLS_AES_256_GCM_SHA384/, 'server order preferred over the client\'s');
    assert.match(out, /HTTP\/1\.1 200 OK/);
    assert.match(out, /<<< TLS 1\.3, Alert \[length 0002\], warning close_notify/);
  } finally {
    await close(s);
  }
});

test('TLS 1.2 uses ECDHE with an AEAD suite and also ends with close_notify', async () => {
  const s = rhttps.createServer(pki().serverOptions, (req, res) => res.end('hi'));
  const port = await listen(s, 0, '127.0.0.1');
  try {
    const out = await sClient(port, ['-tls1_2'], REQUEST);
    assert.match(out, /New, TLSv1\.2, Cipher is ECDHE-ECDSA-(AES256-GCM-SHA384|AES128-GCM-SHA256|CHACHA20-POLY1305)/);
    assert.match(out, /<<< TLS 1\.2, Alert \[length 0002\], warning close_notify/);
  } finally {
    await close(s);
  }
});

for (const [name, make] of [['rhttps', rhttps.createServer], ['node:https', https.createServer]]) {
  test(`${name}: a client offering only TLS 1.1 is refused with ERR_SSL_UNSUPPORTED_PROTOCOL`, async (t) => {
    const s = make(pki().serverOptions, (req, res) => res.end('hi'));
    // Reported through the engine's event queue, possibly after the client saw the close.
    const tlsError = new Promise((resolve) => s.once('tlsClientError', resolve));
    const port = await listen(s, 0, '127.0.0.1');
    try {
      // SECLEVEL=0 lets this OpenSSL build a TLS 1.1 hello whatever the system's policy says;
      // otherwise it would connect and close without sending one, which is a different case.
      const out = await sClient(port, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], REQUEST);
      if (/written 0 bytes/.test(out)) {
        // The server was never offered a hello to refuse; that is the client's limit, not ours.
        t.skip(`this OpenSSL sends no TLS 1.1 hello:\n${out}`);
        return;
      }
      assert.match(out, /written [1-9]\d* bytes/, `s_client did not get to a hello:\n${out}`);
      assert.doesNotMatch(out, /HTTP\/1\.1 200/);
      const err = await within(tlsError, 5000, `tlsClientError after s_client's hello:\n${out}`);
      assert.equal(err.code, 'ERR_SSL_UNSUPPORTED_PROTOCOL', `${err.code}: ${err.message}\n${out}`);
    } finally {
      await close(s);
    }
  });
}
