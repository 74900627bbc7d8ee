'use strict';
// Errors with Node's codes and message shapes.

const os = require('node:os');
const util = require('node:util');

function nodeError(Base, code, message) {
  const err = new Base(message);
  err.code = code;
  return err;
}

// The shape of libuv errors Node gives for listen failures:
// `listen EADDRINUSE: address already in use :::8443`, with code, errno, syscall, address, port.
function listenError(code, address, port, fallbackMessage) {
  const errno = -(os.constants.errno[code] || 0);
  const desc = errno ? (util.getSystemErrorMap().get(errno) || [code, fallbackMessage])[1] : fallbackMessage;
  const where = port !== undefined ? `${address}:${port}` : `${address}`;
  const err = new Error(`listen ${code}: ${desc} ${where}`);
  err.code = code;
  if (errno) err.errno = errno;
  err.syscall = 'listen';
  err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

function invalidArgType(name, expected, actual) {
  const shown = actual === null ? 'null' : typeof actual === 'object' ? `an instance of ${actual.constructor?.name || 'Object'}` : `type ${typeof actual} (${util.inspect(actual)})`;
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}. Received ${shown}`);
}

function badPort(name, port) {
  return nodeError(RangeError, 'ERR_SOCKET_BAD_PORT',
    `${name} should be >= 0 and < 65536. Received type ${typeof port} (${util.inspect(port)}).`);
}

function outOfRange(name, range, value) {
  return nodeError(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${util.inspect(value)}`);
}

module.exports = { nodeError, listenError, invalidArgType, badPort, outOfRange };
