'use strict';
// Node's TLS options in the shape the engine takes: each of key/cert/ca becomes an array of
// Buffers. Options the engine cannot honour yet fail here, loudly, instead of being ignored.

const { nodeError, invalidArgType } = require('./errors');

function toBuffers(value, name) {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i) => {
    if (typeof item === 'string') return Buffer.from(item);
    if (Buffer.isBuffer(item)) return item;
    if (ArrayBuffer.isView(item)) return Buffer.from(item.buffer, item.byteOffset, item.byteLength);
    if (item && typeof item === 'object' && name === 'key' && (typeof item.pem === 'string' || Buffer.isBuffer(item.pem))) {
      if (item.passphrase !== undefined) throw unsupported('per-key passphrase', 'decrypt the key first (openssl pkey -in key.pem -out plain.pem)');
      return Buffer.from(item.pem);
    }
    throw invalidArgType(Array.isArray(value) ? `options.${name}[${i}]` : `options.${name}`,
      'of type string or an instance of Buffer, TypedArray, or DataView', item);
  });
}

function unsupported(what, instead) {
  return nodeError(Error, 'ERR_RHTTPS_UNSUPPORTED_OPTION', `rhttps does not support ${what} yet: ${instead}`);
}

function tlsInput(options) {
  if (options.pfx !== undefined) throw unsupported('the pfx option', 'convert it to PEM with `openssl pkcs12 -in cert.pfx -nodes` and pass key and cert');
  if (options.passphrase !== undefined && options.key !== undefined) {
    const text = toBuffers(options.key, 'key').map((b) => b.toString('latin1')).join('');
    if (/ENCRYPTED/.test(text)) throw unsupported('encrypted private keys', 'decrypt the key first (openssl pkey -in key.pem -out plain.pem)');
  }
  return {
    key: toBuffers(options.key, 'key'),
    cert: toBuffers(options.cert, 'cert'),
    ca: toBuffers(options.ca, 'ca'),
  };
}

module.exports = { tlsInput };
