'use strict';
// The compiled engine, loaded through the napi-rs generated loader (../native.js).

let binding;
try {
  binding = require('../native.js');
} catch (cause) {
  const err = new Error(
    `rhttps: no native binary could be loaded for ${process.platform}-${process.arch} ` +
    `(Node ${process.version}). Reinstall with optional dependencies enabled ` +
    '(npm install --include=optional), or build from source with `npm run build` ' +
    '(needs a Rust toolchain).', { cause });
  err.code = 'ERR_RHTTPS_NATIVE_MISSING';
  throw err;
}

module.exports = binding;
