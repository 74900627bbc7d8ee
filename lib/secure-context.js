'use strict';
// createSecureContext(options): validated TLS options, usable with server.addContext() and
// server.setSecureContext() like the object node:tls's createSecureContext returns.

const { checkSecureContext } = require('./native');
const { tlsInput, kTlsInput } = require('./tls-options');

class SecureContext {
  constructor(options) {
    const input = tlsInput(options);
    // Fails now, as Node's createSecureContext does, not at the first handshake.
    checkSecureContext(input);
    this[kTlsInput] = input;
  }
}

function createSecureContext(options = {}) {
  return new SecureContext(options);
}

module.exports = { SecureContext, createSecureContext };
