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

// Node's wording: a dotted name ("options.key") is a property, a plain one an argument.
function invalidArgType(name, expected, actual) {
  const shown = actual === null ? 'null' : typeof actual === 'object' ? `an instance of ${actual.constructor?.name || 'Object'}` : `type ${typeof actual} (${util.inspect(actual)})`;
  const kind = name.includes('.') ? 'property' : 'argument';
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" ${kind} must be ${expected}. Received ${shown}`);
}

function badPort(name, port) {
  return nodeError(RangeError, 'ERR_SOCKET_BAD_PORT',
    `${name} should be >= 0 and < 65536. Received type ${typeof port} (${util.inspect(port)}).`);
}

// Node writes large integers with separators (1_099_511_627_776).
function outOfRange(name, range, value) {
  const shown = Number.isInteger(value) && Math.abs(value) > 2 ** 32 ? util.inspect(value, { numericSeparator: true }) : util.inspect(value);
  return nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`);
}

module.exports = { nodeError, listenError, invalidArgType, badPort, outOfRange };
