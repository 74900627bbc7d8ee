'use strict';
// Node's TLS options in the shape the engine takes. Options the engine honours are passed on;
// options it cannot honour yet fail here with what to do instead, rather than being ignored.

const { nodeError, invalidArgType } = require('./errors');
const tls = require('node:tls');

const kTlsInput = Symbol('rhttps.tlsInput');

// As Node's createSecureContext: a falsy value is no material at all, and an element of a
// list that is not key material is named as the option itself.
function toBuffers(value, name) {
  if (!value) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    if (typeof item === 'string') return Buffer.from(item);
    if (Buffer.isBuffer(item)) return item;
    if (ArrayBuffer.isView(item)) return Buffer.from(item.buffer, item.byteOffset, item.byteLength);
    // { pem, passphrase } only as an element of a key list, as on Node.
    if (item && typeof item === 'object' && name === 'key' && Array.isArray(value) && (typeof item.pem === 'string' || Buffer.isBuffer(item.pem))) {
      return Buffer.from(item.pem);
    }
    throw invalidArgType(`options.${name}`, 'of type string or an instance of Buffer, TypedArray, or DataView', item);
  });
}

function unsupported(what, instead) {
  return nodeError(Error, 'ERR_RHTTPS_UNSUPPORTED_OPTION', `rhttps does not support ${what} yet: ${instead}`);
}

// Options that change who may connect or how, and that rhttps does not implement yet: passing
// them must not silently weaken or alter the server.
const NOT_YET = {
  privateKeyEngine: 'OpenSSL engines do not exist in rustls; pass the key as PEM',
  privateKeyIdentifier: 'OpenSSL engines do not exist in rustls; pass the key as PEM',
  clientCertEngine: 'OpenSSL engines do not exist in rustls',
  sigalgs: 'rustls chooses signature algorithms itself from the certificate key',
  pskCallback: 'TLS-PSK is not available in rustls servers; give clients certificates (requestCert) instead',
  pskIdentityHint: 'TLS-PSK is not available in rustls servers; give clients certificates (requestCert) instead',
};

// Node's pfx forms: one archive, or a list of archives and { buf, passphrase } objects.
function pfxList(value) {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i) => {
    const name = Array.isArray(value) ? `options.pfx[${i}]` : 'options.pfx';
    if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item)) {
      if (item.passphrase !== undefined && typeof item.passphrase !== 'string') {
        throw invalidArgType(`${name}.passphrase`, 'of type string', item.passphrase);
      }
      return { buf: toBuffers(item.buf, 'pfx')[0] ?? Buffer.alloc(0), passphrase: item.passphrase };
    }
    // Node hands anything else to OpenSSL, which cannot read it as an archive.
    if (typeof item !== 'string' && !ArrayBuffer.isView(item)) {
      throw nodeError(Error, 'ERR_CRYPTO_OPERATION_FAILED', 'Unable to load PFX certificate');
    }
    return { buf: toBuffers(item, 'pfx')[0] };
  });
}

function optionalString(options, name) {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidArgType(`options.${name}`, 'of type string', v);
  return v;
}

// Node names a version that is not a string as it names an unknown one.
// The legacy `secureProtocol` names an OpenSSL method, which pins one protocol version or
// leaves the defaults; Node refuses it beside minVersion/maxVersion. TLS 1.0 and 1.1 methods
// reach the engine as versions, which rustls refuses with the reason.
const METHOD_VERSIONS = { TLS: null, SSLv23: null, TLSv1: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2' };

function protocolVersions(options) {
  const method = options.secureProtocol;
  const min = protocolVersion(options, 'minVersion', 'minimum');
  const max = protocolVersion(options, 'maxVersion', 'maximum');
  if (typeof method !== 'string') return { min, max };
  if (min || max) {
    throw nodeError(TypeError, 'ERR_TLS_PROTOCOL_VERSION_CONFLICT',
      `TLS protocol version "${min || max}" conflicts with secureProtocol "${method}"`);
  }
  const m = /^(\w+?)(?:_server|_client)?_method$/.exec(method);
  if (m && (m[1] === 'SSLv2' || m[1] === 'SSLv3')) {
    throw nodeError(TypeError, 'ERR_TLS_INVALID_PROTOCOL_METHOD', `${m[1]} methods disabled`);
  }
  if (!m || !(m[1] in METHOD_VERSIONS)) {
    throw nodeError(TypeError, 'ERR_TLS_INVALID_PROTOCOL_METHOD', `Unknown method: ${method}`);
  }
  const pinned = METHOD_VERSIONS[m[1]];
  return { min: pinned ?? undefined, max: pinned ?? undefined };
}

function protocolVersion(options, name, which) {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    throw nodeError(TypeError, 'ERR_TLS_INVALID_PROTOCOL_VERSION', `${v} is not a valid ${which} TLS protocol version`);
  }
  return v;
}

// ALPNProtocols as Node takes it: an array of strings/Buffers, or one Buffer in wire format.
function alpnProtocols(value) {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    return value.map((p, i) => {
      if (typeof p === 'string' || Buffer.isBuffer(p) || ArrayBuffer.isView(p)) return Buffer.from(p);
      throw invalidArgType(`options.ALPNProtocols[${i}]`, 'of type string or an instance of Buffer', p);
    });
  }
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) {
    const wire = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const out = [];
    for (let o = 0; o < wire.length; o += 1 + wire[o]) out.push(wire.subarray(o + 1, o + 1 + wire[o]));
    return out;
  }
  // Node passes anything else through to OpenSSL, which ignores it: no protocol is offered.
  return undefined;
}

// rhttps's allowHTTP2: true offers HTTP/2 first, then HTTP/1.1, unless ALPNProtocols says.
function offeredProtocols(options) {
  const allow = options.allowHTTP2;
  if (allow !== undefined && typeof allow !== 'boolean') throw invalidArgType('options.allowHTTP2', 'of type boolean', allow);
  return options.ALPNProtocols ?? (allow ? ['h2', 'http/1.1'] : undefined);
}

function tlsInput(options) {
  if (options[kTlsInput]) return options[kTlsInput];
  if (options.secureContext !== undefined && options.secureContext !== null) return fromSecureContext(options);
  for (const [name, instead] of Object.entries(NOT_YET)) {
    if (options[name] !== undefined && options[name] !== false && options[name] !== null) {
      throw unsupported(`the ${name} option`, instead);
    }
  }
  // Validated in Node's order (createSecureContext: ca, cert, then key).
  const versions = protocolVersions(options);
  // Without `ca`, client certificates are checked against Node's bundled roots, as Node does.
  const ca = options.ca || !options.requestCert ? toBuffers(options.ca, 'ca') : [Buffer.from(tls.rootCertificates.join('\n'))];
  const cert = toBuffers(options.cert, 'cert');
  const key = toBuffers(options.key, 'key');
  const passphrase = optionalString(options, 'passphrase');
  // Node's per-key form: key: [{ pem, passphrase }], by position.
  const keyList = options.key ? [].concat(options.key) : [];
  const keyPassphrases = keyList.map((k) => {
    if (k === null || typeof k !== 'object' || Buffer.isBuffer(k) || ArrayBuffer.isView(k) || k.passphrase === undefined) return null;
    if (typeof k.passphrase !== 'string') throw invalidArgType('options.key[].passphrase', 'of type string', k.passphrase);
    return k.passphrase;
  });
  return {
    key,
    cert,
    ca,
    passphrase,
    keyPassphrases,
    pfx: pfxList(options.pfx),
    crl: options.crl ? toBuffers(options.crl, 'crl') : undefined,
    minVersion: versions.min,
    maxVersion: versions.max,
    ciphers: optionalString(options, 'ciphers'),
    ecdhCurve: optionalString(options, 'ecdhCurve'),
    // Node takes any value here and tests its truth.
    honorCipherOrder: options.honorCipherOrder === undefined ? undefined : Boolean(options.honorCipherOrder),
    alpnProtocols: alpnProtocols(offeredProtocols(options)),
    requestCert: options.requestCert === true,
    rejectUnauthorized: options.rejectUnauthorized !== false,
  };
}

// tls.createServer({ secureContext }): the context replaces the context options, as on Node;
// the server options (requestCert, rejectUnauthorized, ALPNProtocols) still apply.
function fromSecureContext(options) {
  const input = options.secureContext[kTlsInput];
  if (input === undefined) {
    throw nodeError(TypeError, 'ERR_INVALID_ARG_VALUE',
      'options.secureContext must come from rhttps.createSecureContext(options): a node:tls SecureContext cannot be read by rhttps');
  }
  return {
    ...input,
    alpnProtocols: alpnProtocols(offeredProtocols(options)) ?? input.alpnProtocols,
    requestCert: options.requestCert === true,
    rejectUnauthorized: options.rejectUnauthorized !== false,
  };
}

const TLS_OPTION_NAMES = ['key', 'cert', 'ca', 'minVersion', 'maxVersion', 'ciphers', 'ecdhCurve', 'honorCipherOrder',
  'ALPNProtocols', 'allowHTTP2', 'requestCert', 'rejectUnauthorized', 'passphrase', 'pfx', 'crl', 'secureContext', ...Object.keys(NOT_YET)];

module.exports = { tlsInput, kTlsInput, TLS_OPTION_NAMES, offeredProtocols };
