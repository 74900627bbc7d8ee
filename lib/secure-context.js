'use strict';
// createSecureContext(options): validated TLS options, usable with server.addContext() and
// server.setSecureContext() like the object node:tls's createSecureContext returns.

const tls = require('node:tls');
const { checkSecureContext, SecureIdentity } = require('./native');
const { tlsInput, kTlsInput } = require('./tls-options');
const { nodeError } = require('./errors');

class SecureContext {
  constructor(options) {
    const input = tlsInput(options);
    // Fails now, as Node's createSecureContext does, not at the first handshake.
    checkSecureContext(input);
    this[kTlsInput] = input;
  }
}

// A node:tls context holds an OpenSSL handle that rhttps cannot read; `where` names the
// call that received it.
function refuseNodeContext(context, where) {
  if (context instanceof tls.SecureContext) {
    throw nodeError(TypeError, 'ERR_INVALID_ARG_VALUE',
      `${where} got a node:tls SecureContext, which rhttps cannot read: pass rhttps.createSecureContext(options) or the options object`);
  }
}

const identities = new WeakMap();

// The context's keys and certificates loaded natively once, for answering SNICallback with
// it again and again. Accepts what SNICallback may hand back: a context or an options object.
function identityOf(context) {
  let identity = identities.get(context);
  if (identity === undefined) {
    identity = new SecureIdentity(context instanceof SecureContext ? context[kTlsInput] : tlsInput(context));
    identities.set(context, identity);
  }
  return identity;
}

function createSecureContext(options = {}) {
  return new SecureContext(options);
}

module.exports = { SecureContext, createSecureContext, identityOf, refuseNodeContext };
