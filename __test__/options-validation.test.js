'use strict';
// createServer validates its options as node:https does: the same inputs are refused with the
// same code and message, and the same inputs are taken (a falsy key is no key, an ALPNProtocols
// of the wrong type offers nothing).

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const rhttps = require('..');
const { pki } = require('./helpers');

function outcome(createServer, options) {
  try {
    createServer(options);
    return 'created';
  } catch (err) {
    return `${err.code}: ${err.message}`;
  }
}

test('bad option types and values get the same error as on node:https', () => {
  const { leafKey: key, leafCert: cert } = pki();
  const cases = {
    'a falsy key': { key: false, cert },
    'a number as cert': { key, cert: 1 },
    'a number as key': { key: 42, cert },
    'a number as ca': { key, cert, ca: 1 },
    'a number inside a key list': { key: [1], cert },
    'an object as cert': { key, cert: {} },
    'a number as passphrase': { key, cert, passphrase: 1 },
    'a number as ciphers': { key, cert, ciphers: 1 },
    'a number as minVersion': { key, cert, minVersion: 1 },
    'a number as maxVersion': { key, cert, maxVersion: 1 },
    'a number as ALPNProtocols': { key, cert, ALPNProtocols: 1 },
    'a string as sessionTimeout': { key, cert, sessionTimeout: 'x' },
    'a negative sessionTimeout': { key, cert, sessionTimeout: -1 },
    'a fractional sessionTimeout': { key, cert, sessionTimeout: 1.5 },
    'a huge sessionTimeout': { key, cert, sessionTimeout: 2 ** 40 },
    'a string as honorCipherOrder': { key, cert, honorCipherOrder: 'yes' },
    'a string as handshakeTimeout': { key, cert, handshakeTimeout: 'x' },
    'a number as pfx': { pfx: 1 },
    'a number as crl': { key, cert, crl: 1 },
    'a number as SNICallback': { SNICallback: 1 },
    'a string as ticketKeys': { key, cert, ticketKeys: 'x' },
    'a number as options': 1,
    'a string as options': 'nope',
    'null options': null,
    'true as options': true,
    'an array as options': [],
    'a { pem } key outside a list': { key: { pem: key }, cert },
    'a { pem } key inside a list': { key: [{ pem: key }], cert },
    'ArrayBuffers': { key: new Uint8Array(Buffer.from(key)).buffer, cert: new Uint8Array(Buffer.from(cert)).buffer },
    'true as key': { key: true, cert },
    'true as key and as cert (cert is checked first)': { key: true, cert: true },
  };
  for (const [name, options] of Object.entries(cases)) {
    assert.equal(outcome(rhttps.createServer, options), outcome(https.createServer, options), name);
  }
});
