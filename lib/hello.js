'use strict';
// SNICallback and ALPNCallback: the engine holds a handshake at its ClientHello and asks; the
// answer (which certificate, which protocol, or drop it) goes back in one call.

const { nodeError, invalidArgType } = require('./errors');
const { identityOf, refuseNodeContext } = require('./secure-context');

const CONFIGURED = 0;
const SELECT = 1;
const REJECT = 2;
const ABORT = 3;

// Validates the callbacks as Node's tls.Server does; returns null when neither is set.
function helloHooks(options) {
  const { SNICallback, ALPNCallback } = options;
  if (SNICallback !== undefined && typeof SNICallback !== 'function') {
    throw invalidArgType('options.SNICallback', 'of type function', SNICallback);
  }
  if (ALPNCallback !== undefined && ALPNCallback !== null) {
    if (typeof ALPNCallback !== 'function') throw invalidArgType('options.ALPNCallback', 'of type function', ALPNCallback);
    if (options.ALPNProtocols !== undefined && options.ALPNProtocols !== null) {
      throw nodeError(TypeError, 'ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS',
        'The ALPNCallback and ALPNProtocols TLS options are mutually exclusive');
    }
  }
  const hooks = {
    SNICallback: typeof SNICallback === 'function' ? SNICallback : null,
    ALPNCallback: typeof ALPNCallback === 'function' ? ALPNCallback : null,
  };
  return hooks.SNICallback || hooks.ALPNCallback ? hooks : null;
}

// Answers one held handshake. `fail(err)` drops it and reports err as tlsClientError, as
// Node does when SNICallback passes an error.
function answerHello(native, hooks, id, servername, offersAlpn, protocols, fail) {
  let answered = false;
  const abort = (err) => {
    if (answered) return;
    answered = true;
    native.answerHello(id, ABORT, null);
    fail(err);
  };
  // As in Node (OpenSSL picks the protocol before the certificate): ALPNCallback first, then
  // SNICallback, which is not asked when the protocol was refused.
  let mode = CONFIGURED;
  let alpn = null;
  if (hooks.ALPNCallback && offersAlpn) {
    try {
      const selected = hooks.ALPNCallback({ servername: servername || undefined, protocols });
      if (selected === undefined) {
        mode = REJECT;
      } else if (!protocols.includes(selected)) {
        throw nodeError(TypeError, 'ERR_TLS_ALPN_CALLBACK_INVALID_RESULT',
          `ALPN callback returned a value (${selected}) that did not match any of the client's offered protocols (${protocols.join(', ')})`);
      } else {
        mode = SELECT;
        alpn = Buffer.from(selected, 'latin1');
      }
    } catch (err) {
      abort(err);
      return;
    }
  }
  const proceed = (context) => {
    if (answered) return;
    let identity = null;
    try {
      if (context !== undefined && context !== null) identity = contextIdentity(context);
    } catch (err) {
      abort(err);
      return;
    }
    answered = true;
    if (identity === null) native.answerHello(id, mode, alpn);
    else native.answerHelloWith(id, identity, mode, alpn);
  };
  if (hooks.SNICallback && servername && mode !== REJECT) {
    try {
      hooks.SNICallback(servername, (err, context) => (err ? abort(err) : proceed(context)));
    } catch (err) {
      abort(err);
    }
  } else {
    proceed(undefined);
  }
}

function contextIdentity(context) {
  if (typeof context !== 'object') {
    throw invalidArgType('SNICallback context', 'an rhttps SecureContext or a TLS options object', context);
  }
  refuseNodeContext(context, 'SNICallback');
  return identityOf(context);
}

module.exports = { helloHooks, answerHello };
