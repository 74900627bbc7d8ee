'use strict';
// Node's server.listen() overloads, normalized to one options object.

// Loaded when listening, as node:net does, not with the module.
const isClusterWorker = () => require('node:cluster').isWorker;
const { nodeError, invalidArgType, badPort } = require('./errors');

function isPort(v) {
  return (typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && /^\d+$/.test(v.trim())));
}

function toPort(v, name) {
  if (v === undefined || v === null) return 0;
  if (!isPort(v)) throw badPort(name, v);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw badPort(name, v);
  return n;
}

function normalizeListenArgs(args) {
  let cb;
  if (args.length > 0 && typeof args[args.length - 1] === 'function') {
    cb = args[args.length - 1];
    args = args.slice(0, -1);
  }
  const [first] = args;
  let opts;
  if (first !== null && typeof first === 'object') {
    if (first._handle || typeof first.fd === 'number') {
      throw nodeError(Error, 'ERR_INVALID_ARG_VALUE',
        'rhttps cannot listen on an existing handle or file descriptor: pass a port (and host) instead');
    }
    if (first.port === undefined && first.path === undefined && Object.keys(first).length === 0) {
      opts = { port: 0 };
    } else {
      opts = { ...first };
    }
  } else if (first === undefined || first === null || isPort(first)) {
    opts = { port: first };
    if (typeof args[1] === 'string') opts.host = args[1];
    const backlog = typeof args[1] === 'number' ? args[1] : args[2];
    if (typeof backlog === 'number') opts.backlog = backlog;
  } else if (typeof first === 'string') {
    opts = { path: first };
    const backlog = args[1];
    if (typeof backlog === 'number') opts.backlog = backlog;
  } else {
    throw invalidArgType('options', 'an object, a port number or a path', first);
  }
  if (opts.path !== undefined && typeof opts.path !== 'string') {
    throw invalidArgType('options.path', 'of type string', opts.path);
  }
  if (opts.port !== undefined && opts.port !== null && !isPort(opts.port)) {
    throw nodeError(TypeError, 'ERR_INVALID_ARG_VALUE',
      `The argument 'options' must have the property "port" or "path". Received ${JSON.stringify(opts)}`);
  }
  return {
    path: opts.port === undefined || opts.port === null ? opts.path : undefined,
    port: toPort(opts.port, 'options.port'),
    host: opts.host === undefined || opts.host === null || opts.host === '' ? undefined : String(opts.host),
    backlog: Number.isInteger(opts.backlog) && opts.backlog > 0 ? opts.backlog : 511,
    ipv6Only: opts.ipv6Only === true,
    // Node 22's option; cluster workers get it by default, since the engine's socket cannot be
    // handed to them by the primary (see ARCHITECTURE.md, "Several cores").
    reusePort: opts.reusePort === undefined ? isClusterWorker() : opts.reusePort === true,
    signal: opts.signal,
    cb,
  };
}

module.exports = { normalizeListenArgs };
