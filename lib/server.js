'use strict';
// Server classes that pass `instanceof https.Server` (or `http.Server`), `tls.Server` and
// `net.Server`, without running those constructors: the listening socket, TLS and HTTP
// parsing live in the engine. Every method of net.Server that touches a handle is replaced.

const EventEmitter = require('node:events');
const fs = require('node:fs');
const http = require('node:http');
const dns = require('node:dns');
const net = require('node:net');
const stream = require('node:stream');
const tls = require('node:tls');
const util = require('node:util');
const { NativeServer, defaultLimits } = require('./native');
const { dispatchPending } = require('./events');
const { createSocket } = require('./socket');
const { Connection } = require('./connection');
const adopted = require('./adopted');
const { normalizeListenArgs } = require('./listen-args');
const { tlsInput, TLS_OPTION_NAMES, offeredProtocols } = require('./tls-options');
const { refuseNodeContext } = require('./secure-context');
const { helloHooks, answerHello } = require('./hello');
const { nodeError, listenError, invalidArgType, outOfRange } = require('./errors');

const kState = Symbol('rhttps.state');

// Servers that are listening or still have connections, kept alive as libuv's handles keep
// Node's (`createServer(h).listen(443)` with no reference kept must go on serving). Any other
// server is reachable only through the application: the engine's wake-up function holds its
// state weakly, so a server that is created and dropped without listening is collected.
const live = new Set();

function wakeFor(state) {
  const ref = new WeakRef(state);
  return () => {
    const st = ref.deref();
    if (st !== undefined) st.onEvents();
  };
}

const PIPE_GRACE_MS = 500;
// Finished responses reported to the engine in one call (ServerState#responseDone).
const DONE_BATCH = 256;

// Node 20's timeouts, as the engine defines them (one definition for both layers).
const DEFAULTS = defaultLimits();

// Per-server state, and the sink the engine's events are dispatched to. Kept off the server
// object so application code cannot collide with it.
class ServerState {
  constructor(server, options, secure) {
    this.server = server;
    this.secure = secure;
    this.connections = new Map();
    // HTTP/2 streams, each served as a connection of its own (not counted as connections).
    this.streams = new Map();
    // Streams handed over with emit('connection'), by pipe id (lib/adopted.js); and the ids
    // of the connections being opened over them, until their OPEN.
    this.pipes = new Map();
    this.adopting = new Set();
    this.adoptedConnections = 0;
    this.pipeTimer = null;
    this.address = null;
    this.listening = false;
    this.binding = false;
    this.closing = false;
    this.refed = true;
    this.nativeRefed = false;
    this.limits = {};
    // The TLS options in force, so setSecureContext() can change some and keep the rest.
    this.tlsOptions = {};
    if (secure) for (const name of TLS_OPTION_NAMES) if (options[name] !== undefined) this.tlsOptions[name] = options[name];
    this.native = new NativeServer(secure ? tlsInput(options) : null, wakeFor(this));
    this.doneIds = new Uint32Array(DONE_BATCH);
    this.doneCount = 0;
    this.doneScheduled = false;
    this.doneFlusher = () => {
      this.doneScheduled = false;
      this.flushResponsesDone();
    };
    this.hello = secure ? helloHooks(options) : null;
    if (this.hello) this.native.setHelloHooks(this.hello.SNICallback !== null, this.hello.ALPNCallback !== null);
    if (secure && options.ticketKeys !== undefined) this.native.setTicketKeys(ticketKeys(options.ticketKeys, 'options.ticketKeys'));
    if (secure && options.sessionTimeout !== undefined) {
      if (typeof options.sessionTimeout !== 'number') {
        throw invalidArgType('options.sessionTimeout', 'of type number', options.sessionTimeout);
      }
      if (!Number.isInteger(options.sessionTimeout)) {
        throw outOfRange('options.sessionTimeout', 'an integer', options.sessionTimeout);
      }
      if (options.sessionTimeout < 0 || options.sessionTimeout > 2147483647) {
        throw outOfRange('options.sessionTimeout', '>= 0 && <= 2147483647', options.sessionTimeout);
      }
      this.native.setSessionTimeout(options.sessionTimeout);
    }
  }

  onEvents() {
    dispatchPending(this.native, this);
  }

  // The engine learns of each finished response (Connection#onResponseFinish) in one native
  // call per tick of the event loop: a call into native code costs about 0.5 µs whatever it
  // does (a fifteenth of a hello request's JS at 64 connections), and under load a tick
  // finishes many responses. The call is a
  // microtask away; what reads the engine's count of unanswered requests in between
  // (closeIdleConnections) flushes first.
  responseDone(id) {
    if (this.doneCount === this.doneIds.length) this.flushResponsesDone();
    this.doneIds[this.doneCount++] = id;
    if (!this.doneScheduled) {
      this.doneScheduled = true;
      queueMicrotask(this.doneFlusher);
    }
  }

  flushResponsesDone() {
    const n = this.doneCount;
    if (n === 0) return;
    this.doneCount = 0;
    if (n === 1) this.native.responseDone(this.doneIds[0]);
    else this.native.responsesDone(this.doneIds, n);
  }

  updateRef() {
    // An adopted stream keeps the process alive only if it does so itself (a socket does, a
    // JS Duplex does not), as on Node; its bytes in flight do, through pipeActivity().
    const busy = this.connections.size > this.adoptedConnections;
    const active = this.listening || this.binding || busy;
    if (active) live.add(this);
    else live.delete(this);
    const want = this.refed && (this.listening || busy);
    if (want !== this.nativeRefed) {
      if (want) this.native.ref();
      else this.native.unref();
      this.nativeRefed = want;
    }
  }

  maybeEmitClose() {
    if (this.listening || this.binding || this.connections.size > 0) return;
    process.nextTick(() => this.server.emit('close'));
  }

  bind(host, opts) {
    const server = this.server;
    let addr;
    try {
      if (opts.path !== undefined) {
        this.native.listenUnix(opts.path, opts.backlog);
        addr = opts.path;
      } else {
        addr = this.native.listen(host, opts.port, opts.backlog, opts.ipv6Only, opts.reusePort);
      }
    } catch (e) {
      this.binding = false;
      const shown = opts.path !== undefined ? opts.path : host === null ? '::' : host;
      const port = opts.path !== undefined ? undefined : opts.port;
      const err = e.code && /^E[A-Z]+$/.test(e.code) ? listenError(e.code, shown, port, e.message) : e;
      process.nextTick(() => server.emit('error', err));
      return;
    }
    this.binding = false;
    this.listening = true;
    this.closing = false;
    this.address = addr;
    this.updateRef();
    process.nextTick(() => server.emit('listening'));
  }

  // Engine events, one method per kind (see lib/events.js).
  onOpen(id, remote, local, tls) {
    const server = this.server;
    // An adopted stream's 'connection' was the application's own emit.
    const isAdopted = this.adopting.delete(id);
    const max = server.maxConnections;
    if (typeof max === 'number' && this.connections.size >= max) {
      // As net.Server: over maxConnections the connection is dropped and 'drop' says who.
      this.native.destroy(id);
      const data = Object.create(null);
      data.localAddress = local.address;
      data.localPort = local.port;
      data.localFamily = local.family;
      data.remoteAddress = remote.address;
      data.remotePort = remote.port;
      data.remoteFamily = remote.family;
      server.emit('drop', data);
      return;
    }
    const socket = createSocket(this.native, id, remote, local, this.secure ? tls : null, server);
    const conn = new Connection(this, socket);
    if (isAdopted) {
      conn.adopted = true;
      socket._pipeOwner = this;
      this.adoptedConnections++;
    }
    this.connections.set(id, conn);
    this.updateRef();
    conn.scope.runInAsyncScope(() => {
      if (!isAdopted) server.emit('connection', socket);
      if (this.secure) server.emit('secureConnection', socket);
    });
  }

  onAdopted(id, pipe) {
    if (this.pipes.has(pipe)) this.adopting.add(id);
  }

  // Bytes crossing a pipe are work under way on engine threads, which Node would see as
  // queued I/O: the process stays up until PIPE_GRACE_MS after the last of them.
  pipeActivity() {
    if (this.pipeTimer !== null) this.pipeTimer.refresh();
    else this.pipeTimer = setTimeout(() => { this.pipeTimer = null; }, PIPE_GRACE_MS);
  }

  onPipeData(pipe, data) {
    adopted.onPipeData(this, pipe, data);
  }

  onPipeEnd(pipe) {
    adopted.onPipeEnd(this, pipe);
  }

  onPipeDrain(pipe) {
    adopted.onPipeDrain(this, pipe);
  }

  // Runs `conn[method](...args)` in the connection's async scope, if it is still open.
  run(id, method, a, b, c, d, e, f, g) {
    const conn = this.connections.get(id) ?? this.streams.get(id);
    if (conn === undefined) return;
    if (conn.adopted) this.pipeActivity();
    conn.scope.runInAsyncScope(conn[method], conn, a, b, c, d, e, f, g);
  }

  onRequest(id, method, url, major, minor, rawHeaders, flags, head) {
    this.run(id, 'onRequest', method, url, major, minor, rawHeaders, flags, head);
  }

  onData(id, chunk) {
    this.run(id, 'onData', chunk);
  }

  onKeylog(id, line) {
    const conn = this.connections.get(id);
    if (conn !== undefined) this.server.emit('keylog', line, conn.socket);
  }

  onBody(id, chunk) {
    this.run(id, 'onBody', chunk);
  }

  onEnd(id, rawTrailers) {
    this.run(id, 'onEnd', rawTrailers);
  }

  onPeerEnd(id) {
    this.run(id, 'onPeerEnd');
  }

  onDrain(id) {
    this.run(id, 'onDrain');
  }

  onClientError(id, code, reason, parsed, raw) {
    this.run(id, 'onClientError', code, reason, parsed, raw);
  }

  // An HTTP/2 stream: a socket of its own that shares its connection's addresses and TLS
  // facts, served by the same HTTP/1 code as a connection (one request, then closed).
  onStream(id, parentId) {
    const parent = this.connections.get(parentId);
    if (parent === undefined) {
      this.native.destroy(id);
      return;
    }
    const p = parent.socket;
    const socket = createSocket(this.native, id, p._remote, p._local, p._tls || null, this.server);
    socket._parent = p;
    // HTTP/2 reports a write done once h2 holds it, before it is sent: a chunk lent by
    // reference could still change under it, so a stream's writes are copied.
    socket._byReference = false;
    parent.isHttp2 = true;
    this.streams.set(id, new Connection(this, socket));
  }

  onClose(id, code, message) {
    if (this.streams.has(id)) {
      const stream = this.streams.get(id);
      this.streams.delete(id);
      try {
        stream.scope.runInAsyncScope(stream.onClose, stream, code, message);
      } finally {
        stream.scope.emitDestroy();
        // A stream that ended without its response kept its place among the connection's
        // handlers until now, when its request and response have been told.
        if (code) this.native.releaseStream(id);
      }
      return;
    }
    const conn = this.connections.get(id);
    if (conn === undefined) return;
    this.connections.delete(id);
    if (conn.adopted) this.adoptedConnections--;
    try {
      conn.scope.runInAsyncScope(conn.onClose, conn, code, message);
    } finally {
      conn.scope.emitDestroy();
      this.updateRef();
      if (this.closing) this.maybeEmitClose();
    }
  }

  onHello(id, servername, offersAlpn, protocols, remote) {
    answerHello(this.native, this.hello, id, servername, offersAlpn, protocols,
      (err) => this.server.emit('tlsClientError', err, handshakeSocket(remote)));
  }

  onTlsError(code, message, remote) {
    const err = new Error(message);
    err.code = code;
    this.server.emit('tlsClientError', err, handshakeSocket(remote));
  }

  // Out of descriptors or memory: the engine backs off and accepts again once some are free,
  // as libuv does, so this is no 'error'; a warning (at most once a minute) says why new
  // connections wait.
  onAcceptPaused(errno, message) {
    const code = errno ? util.getSystemErrorName(-errno) : 'ENOMEM';
    process.emitWarning(`rhttps: accepting paused (${code}: ${message}); new connections wait until descriptors or memory are free`,
      { code: 'RHTTPS_ACCEPT_PAUSED' });
  }

  onAcceptError(errno, message) {
    const err = new Error(`accept ${message}`);
    err.errno = -errno;
    err.syscall = 'accept';
    err.code = util.getSystemErrorName(-errno);
    this.server.emit('error', err);
  }
}

// No TLS socket exists for a failed handshake; listeners get what Node's would carry.
function handshakeSocket(remote) {
  return {
    remoteAddress: remote.address,
    remotePort: remote.port,
    remoteFamily: remote.family,
    encrypted: true,
    _secureEstablished: false,
    destroyed: true,
    // The engine has already closed the connection.
    destroy() { return this; },
    end() { return this; },
    write() { return false; },
  };
}

// Node's 48-byte session ticket keys, as a Buffer.
function ticketKeys(keys, name = 'keys') {
  if (!Buffer.isBuffer(keys) && !ArrayBuffer.isView(keys)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', keys);
  if (keys.byteLength !== 48) {
    throw nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `Session ticket keys must be a 48-byte buffer. Received ${keys.byteLength} bytes`);
  }
  return Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength);
}

function validateTimeout(value, name) {
  if (!Number.isInteger(value) || value < 0) {
    if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
    throw outOfRange(name, 'an integer >= 0', value);
  }
}

// Node's storeHTTPOptions, minus the parser internals the engine replaces.
function storeOptions(server, options) {
  server._IncomingMessage = options.IncomingMessage || http.IncomingMessage;
  if (options.joinDuplicateHeaders !== undefined && typeof options.joinDuplicateHeaders !== 'boolean') {
    throw invalidArgType('options.joinDuplicateHeaders', 'of type boolean', options.joinDuplicateHeaders);
  }
  server.joinDuplicateHeaders = options.joinDuplicateHeaders;
  server._ServerResponse = options.ServerResponse || http.ServerResponse;
  // node:http names its own options bare; handshakeTimeout is tls.Server's, named as a property.
  for (const name of ['maxHeaderSize', 'requestTimeout', 'headersTimeout', 'keepAliveTimeout', 'connectionsCheckingInterval']) {
    if (options[name] !== undefined) validateTimeout(options[name], name);
  }
  if (options.handshakeTimeout !== undefined) validateTimeout(options.handshakeTimeout, 'options.handshakeTimeout');
  const requestTimeout = options.requestTimeout ?? DEFAULTS.requestTimeout;
  const headersTimeout = options.headersTimeout ?? Math.min(DEFAULTS.headersTimeout, requestTimeout);
  if (requestTimeout > 0 && headersTimeout > 0 && headersTimeout > requestTimeout) {
    throw outOfRange('headersTimeout', '<= requestTimeout', headersTimeout);
  }
  server.requestTimeout = requestTimeout;
  server.headersTimeout = headersTimeout;
  server.keepAliveTimeout = options.keepAliveTimeout ?? DEFAULTS.keepAliveTimeout;
  // Node's own setting (--max-http-header-size), not a constant.
  server.maxHeaderSize = options.maxHeaderSize ?? http.maxHeaderSize;
  if (options.handshakeTimeout !== undefined) server[kState].native.setLimits({ handshakeTimeout: options.handshakeTimeout });
  server.connectionsCheckingInterval = options.connectionsCheckingInterval ?? 30_000;
  for (const name of ['requireHostHeader', 'joinDuplicateHeaders', 'rejectNonStandardBodyWrites', 'insecureHTTPParser']) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') {
      throw invalidArgType(`options.${name}`, 'of type boolean', options[name]);
    }
  }
  server.requireHostHeader = options.requireHostHeader ?? true;
  server.joinDuplicateHeaders = options.joinDuplicateHeaders;
  server.rejectNonStandardBodyWrites = options.rejectNonStandardBodyWrites ?? false;
  server.insecureHTTPParser = options.insecureHTTPParser;
  // As Node: the option, or else the process-wide --insecure-http-parser flag.
  const insecure = options.insecureHTTPParser ?? process.execArgv.includes('--insecure-http-parser');
  if (insecure) server[kState].native.setLimits({ insecureHttpParser: true });
  server.timeout = 0;
  server.maxHeadersCount = null;
  // node:https leaves maxRequestsPerSocket unset; node:http starts it at 0.
  if (!server[kState].secure) server.maxRequestsPerSocket = 0;
  server.httpAllowHalfOpen = false;
  // net.Server's socket options, as node:http sets them (TCP_NODELAY is always on).
  server.noDelay = true;
  server.keepAlive = Boolean(options.keepAlive);
  server.keepAliveInitialDelay = ~~(options.keepAliveInitialDelay / 1000);
  server.highWaterMark = options.highWaterMark ?? stream.getDefaultHighWaterMark();
  // tls.Server's ALPN list in wire format; node:https offers http/1.1 by default.
  if (server[kState].secure) {
    const out = {};
    tls.convertALPNProtocols(offeredProtocols(options) ?? ['http/1.1'], out);
    server.ALPNProtocols = out.ALPNProtocols;
  }
}

// node:https turns handshake failures into 'clientError' (and destroys the socket) unless
// someone handles them; the listener is visible in listeners('tlsClientError') as on Node.
function onTlsClientError(err, conn) {
  if (!this.emit('clientError', err, conn)) conn.destroy(err);
}

// Limits live in the engine; these accessors keep `server.keepAliveTimeout = 65000` working
// on a live server, as it does on node:https.
// The server's 'connection' listener, as Node's connectionListener is: a socket the engine
// accepted is the server's own; any other stream emitted as a connection is adopted.
function adoptForeign(stream) {
  const st = this[kState];
  if (stream === null || typeof stream !== 'object' || stream._native === st.native) return;
  adopted.adopt(st, stream);
}

const LIMITS = {
  headersTimeout: 'headersTimeout',
  requestTimeout: 'requestTimeout',
  keepAliveTimeout: 'keepAliveTimeout',
  maxHeaderSize: 'maxHeaderSize',
};

class ServerMethods {
  listen(...args) {
    const st = this[kState];
    const opts = normalizeListenArgs(args);
    if (st.listening || st.binding) {
      throw nodeError(Error, 'ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    }
    if (opts.cb) this.once('listening', opts.cb);
    if (opts.signal) {
      if (opts.signal.aborted) {
        process.nextTick(() => this.close());
        return this;
      }
      opts.signal.addEventListener('abort', () => this.close(), { once: true });
    }
    st.binding = true;
    if (opts.host === undefined) {
      st.bind(null, opts);
    } else if (net.isIP(opts.host)) {
      st.bind(opts.host, opts);
    } else {
      dns.lookup(opts.host, (err, ip) => {
        if (err) {
          st.binding = false;
          this.emit('error', err);
        } else {
          st.bind(ip, opts);
        }
      });
    }
    return this;
  }

  get listening() {
    return this[kState].listening;
  }

  address() {
    const a = this[kState].address;
    if (!this[kState].listening || !a) return null;
    return typeof a === 'string' ? a : { address: a.address, family: a.family, port: a.port };
  }

  close(cb) {
    const st = this[kState];
    if (typeof cb === 'function') {
      if (!st.listening) {
        this.once('close', () => cb(nodeError(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      } else {
        this.once('close', cb);
      }
    }
    if (st.listening) {
      st.native.stopAccepting();
      st.listening = false;
      // libuv removes a unix socket's file when the server closes; so does rhttps.
      if (typeof st.address === 'string') fs.rm(st.address, { force: true }, () => {});
    }
    st.closing = true;
    this.closeIdleConnections();
    // HTTP/2 connections get GOAWAY: open streams finish, no new ones start.
    for (const conn of st.connections.values()) if (conn.isHttp2 && conn.socket.writable) conn.socket.end();
    st.updateRef();
    st.maybeEmitClose();
    return this;
  }

  closeAllConnections() {
    for (const conn of this[kState].connections.values()) conn.socket.destroy();
  }

  // Connections with no request in progress; those still answering close after their
  // response (see Connection#onResponseFinish).
  // The engine has the last word: a request whose first bytes have arrived is not idle.
  closeIdleConnections() {
    const st = this[kState];
    st.flushResponsesDone();
    for (const conn of st.connections.values()) {
      const msg = conn.socket._httpMessage;
      if (conn.incoming.length === 0 && conn.receiving === null && (!msg || msg.finished)
        && st.native.destroyIfIdle(conn.socket._id)) {
        conn.socket.destroy();
      }
    }
  }

  getConnections(cb) {
    const n = this[kState].connections.size;
    if (typeof cb === 'function') process.nextTick(cb, null, n);
    return this;
  }

  get _connections() {
    return this[kState].connections.size;
  }

  ref() {
    this[kState].refed = true;
    this[kState].updateRef();
    return this;
  }

  unref() {
    this[kState].refed = false;
    this[kState].updateRef();
    return this;
  }

  setTimeout(msecs, callback) {
    this.timeout = msecs;
    if (callback) this.on('timeout', callback);
    return this;
  }

  // New handshakes use the new certificates and options; open connections are untouched.
  // As in Node, options not given keep their current values.
  setSecureContext(options) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const st = this[kState];
    const merged = { ...st.tlsOptions };
    for (const name of TLS_OPTION_NAMES) if (options[name] !== undefined) merged[name] = options[name];
    st.native.setSecureContext(tlsInput(merged));
    st.tlsOptions = merged;
  }

  // Session ticket keys (48 bytes, Node's format): give every server behind a balancer the
  // same keys and any of them resumes sessions the others started.
  getTicketKeys() {
    return this[kState].native.getTicketKeys();
  }

  setTicketKeys(keys) {
    this[kState].native.setTicketKeys(ticketKeys(keys));
  }

  // Serves `hostname` (SNI; '*' stands for one label) with another key and certificate.
  addContext(hostname, context) {
    if (typeof hostname !== 'string') throw invalidArgType('hostname', 'of type string', hostname);
    if (context === null || typeof context !== 'object') throw invalidArgType('context', 'of type object', context);
    refuseNodeContext(context, 'server.addContext()');
    this[kState].native.addContext(hostname, tlsInput(context));
  }
}

// Node 20 has Symbol.asyncDispose; guarded so older runtimes do not get an 'undefined' method.
if (typeof Symbol.asyncDispose === 'symbol') {
  ServerMethods.prototype[Symbol.asyncDispose] = async function asyncDispose() {
    if (!this[kState].listening) return;
    await new Promise((resolve, reject) => this.close((err) => (err ? reject(err) : resolve())));
  };
}

for (const [prop, key] of Object.entries(LIMITS)) {
  Object.defineProperty(ServerMethods.prototype, prop, {
    configurable: true,
    enumerable: true,
    get() { return this[kState].limits[key]; },
    set(value) {
      this[kState].limits[key] = value;
      this[kState].native.setLimits({ [key]: Number(value) || 0 });
    },
  });
}

// Builds a Server constructor whose instances are `instanceof Base` (https.Server or
// http.Server) and callable without `new`, like Node's.
function defineServer(Base, secure) {
  function Server(options, requestListener) {
    if (!(this instanceof Server)) return new Server(options, requestListener);
    if (typeof options === 'function') {
      requestListener = options;
      options = {};
    } else if (options === undefined || options === null) {
      options = {};
    } else if (typeof options !== 'object' || Array.isArray(options)) {
      throw invalidArgType('options', 'of type object', options);
    }
    EventEmitter.call(this);
    this[kState] = new ServerState(this, options, secure);
    storeOptions(this, options);
    if (requestListener) this.on('request', requestListener);
    this.on('connection', adoptForeign);
    if (secure) {
      this.addListener('tlsClientError', onTlsClientError);
      // Key-log lines cost a little per handshake: collected only while someone listens.
      const keylogListeners = () => this[kState].native.setKeylog(this.listenerCount('keylog') > 0);
      this.on('newListener', (event) => { if (event === 'keylog') process.nextTick(keylogListeners); });
      this.on('removeListener', (event) => { if (event === 'keylog') keylogListeners(); });
    }
  }
  Object.setPrototypeOf(Server.prototype, Base.prototype);
  Object.setPrototypeOf(Server, Base);
  for (const key of Reflect.ownKeys(ServerMethods.prototype)) {
    if (key === 'constructor') continue;
    Object.defineProperty(Server.prototype, key, Object.getOwnPropertyDescriptor(ServerMethods.prototype, key));
  }
  return Server;
}

module.exports = { defineServer, kState };
