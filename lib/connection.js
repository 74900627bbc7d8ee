'use strict';
// The HTTP side of one connection, after Node's lib/_http_server.js: genuine IncomingMessage
// and ServerResponse objects, responses queued in order for pipelined requests, keep-alive
// bookkeeping, Node's clientError defaults. The engine has already parsed the requests.

const http = require('node:http');
const dc = require('node:diagnostics_channel');
const { AsyncResource } = require('node:async_hooks');
const { STATUS_CODES } = http;
const { FLAG_HAS_BODY, FLAG_KEEP_ALIVE, FLAG_UPGRADE, FLAG_BODY_UNTIL_CLOSE } = require('./events');
const { emitResponseDrain } = require('./node-internals');

// The Connection serving a socket, for Node-style handlers that only get the socket.
const kConnection = Symbol('rhttps.connection');

const continueExpression = /(?:^|\W)100-continue(?:$|\W)/i;

// Node's own channels for server requests (APM tools such as OpenTelemetry subscribe to them).
const onRequestStartChannel = dc.channel('http.server.request.start');
const onResponseFinishChannel = dc.channel('http.server.response.finish');

const badRequestResponse = clientErrorResponse(400);
const requestTimeoutResponse = clientErrorResponse(408);
const headerFieldsTooLargeResponse = clientErrorResponse(431);
const chunkExtensionsTooLargeResponse = clientErrorResponse(413);

function clientErrorResponse(code) {
  return Buffer.from(`HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\nConnection: close\r\n\r\n`, 'ascii');
}

function connResetException(message) {
  const err = new Error(message);
  err.code = 'ECONNRESET';
  return err;
}

class Connection {
  // `state` is the server's ServerState: the server, and whether close() was called.
  constructor(state, socket) {
    const server = state.server;
    this.state = state;
    this.server = server;
    this.socket = socket;
    // Like a net.Socket's handle, each connection is its own async resource: its events run
    // in its scope, so AsyncLocalStorage state never crosses between connections that share
    // an engine batch.
    this.scope = new AsyncResource('RHTTPSCONNECTION');
    // Requests whose responses are not finished, oldest first (Node's state.incoming).
    this.incoming = [];
    // Responses waiting for the socket while an earlier one is written (state.outgoing).
    this.outgoing = [];
    // The request whose body is still arriving, and whether it ends only with the connection.
    this.receiving = null;
    this.receivingUntilClose = false;
    this.requestsCount = 0;
    this.upgraded = false;
    this.bodyPaused = false;
    // An HTTP/2 stream: one request, and the engine closes it once its response has left,
    // which can be before the response's write callbacks have run ('finish').
    this.isStream = socket._parent !== undefined;
    this.closeOnFinish = false;
    // Served over a stream the application handed over (lib/adopted.js).
    this.adopted = false;
    socket[kConnection] = this;
    socket.on('error', socketOnError);
    socket.on('timeout', socketOnTimeout);
    socket.on('drain', socketOnDrain);
    // RFC 7230 3: node:http refuses a socket encoding, which would corrupt the parser's input.
    socket.setEncoding = socketSetEncoding;
    if (server.timeout > 0) socket.setTimeout(server.timeout);
  }

  onRequest(method, url, major, minor, rawHeaders, flags, head) {
    const server = this.server;
    const socket = this.socket;
    socket._touch();
    const req = new server._IncomingMessage(socket);
    req.method = method;
    req.url = url;
    req.httpVersionMajor = major;
    req.httpVersionMinor = minor;
    req.httpVersion = `${major}.${minor}`;
    const max = server.maxHeadersCount;
    const count = max > 0 ? Math.min(rawHeaders.length, max * 2) : rawHeaders.length;
    // As Node's parser: the server's option decides how repeated headers are joined.
    req.joinDuplicateHeaders = server.joinDuplicateHeaders;
    req._addHeaderLines(rawHeaders, count);
    const hasBody = (flags & FLAG_HAS_BODY) !== 0;

    if ((flags & FLAG_UPGRADE) !== 0) {
      // As Node: CONNECT always leaves HTTP; other upgrades only if someone listens.
      req.upgrade = method === 'CONNECT' || server.listenerCount('upgrade') > 0;
      if (req.upgrade) {
        this.handOver(req, head);
        return;
      }
      socket._native.upgrade(socket._id, false);
    }
    this.receiving = hasBody ? req : null;
    this.receivingUntilClose = (flags & FLAG_BODY_UNTIL_CLOSE) !== 0;
    this.incoming.push(req);

    const res = new server._ServerResponse(req, {
      highWaterMark: socket.writableHighWaterMark,
      rejectNonStandardBodyWrites: server.rejectNonStandardBodyWrites,
    });
    if (major === 2) {
      // Node's ServerResponse reads minor version 0 as HTTP/1.0 (no chunking); chunks carry
      // the end and the trailers of a stream's response to the engine, which sends them as
      // DATA and trailers.
      res.useChunkedEncodingByDefault = true;
    }
    res._keepAliveTimeout = server.keepAliveTimeout;
    res._maxRequestsPerSocket = server.maxRequestsPerSocket;
    res.shouldKeepAlive = (flags & FLAG_KEEP_ALIVE) !== 0;
    if (onRequestStartChannel.hasSubscribers) {
      onRequestStartChannel.publish({ request: req, response: res, socket, server });
    }
    if (socket._httpMessage) this.outgoing.push(res);
    else res.assignSocket(socket);
    res.on('finish', () => this.onResponseFinish(req, res));

    if (!this.dispatch(req, res)) server.emit('request', req, res);
    if (!hasBody) {
      req.complete = true;
      req.push(null);
    }
  }

  // The connection leaves HTTP: the 'upgrade' (or 'connect') listener gets the raw socket and
  // the bytes that followed the head, as from Node's onParserExecuteCommon.
  handOver(req, head) {
    const server = this.server;
    const socket = this.socket;
    const eventName = req.method === 'CONNECT' ? 'connect' : 'upgrade';
    if (eventName === 'connect' && server.listenerCount('connect') === 0) {
      socket.destroy();
      return;
    }
    this.upgraded = true;
    socket.removeListener('error', socketOnError);
    socket.removeListener('timeout', socketOnTimeout);
    socket.removeListener('drain', socketOnDrain);
    socket._startRaw();
    req.complete = true;
    req.push(null);
    // The decoder copied the head out of its batch, so a kept one pins nothing else.
    server.emit(eventName, req, socket, head);
  }

  // Node's special cases before 'request': missing Host, maxRequestsPerSocket, Expect.
  // Returns true when the request was answered here.
  dispatch(req, res) {
    const server = this.server;
    const http11 = req.httpVersionMajor === 1 && req.httpVersionMinor === 1;
    if (!http11 && req.httpVersionMajor !== 2) return false;
    // HTTP/2 carries the authority in `:authority` (the engine turns it into `host`), which
    // RFC 9113 lets a client leave out; node:http2 does not require it either.
    if (server.requireHostHeader && http11 && req.headers.host === undefined) {
      res.writeHead(400, ['Connection', 'close']);
      res.end();
      return true;
    }
    const limited = typeof server.maxRequestsPerSocket === 'number' && server.maxRequestsPerSocket > 0;
    if (limited) {
      this.requestsCount++;
      res.maxRequestsOnConnectionReached = server.maxRequestsPerSocket <= this.requestsCount;
      if (server.maxRequestsPerSocket < this.requestsCount) {
        server.emit('dropRequest', req, this.socket);
        res.writeHead(503);
        res.end();
        return true;
      }
    }
    if (req.headers.expect === undefined) return false;
    if (continueExpression.test(req.headers.expect)) {
      res._expect_continue = true;
      if (server.listenerCount('checkContinue') > 0) {
        server.emit('checkContinue', req, res);
      } else {
        res.writeContinue();
        server.emit('request', req, res);
      }
    } else if (server.listenerCount('checkExpectation') > 0) {
      server.emit('checkExpectation', req, res);
    } else {
      res.writeHead(417);
      res.end();
    }
    return true;
  }

  onData(chunk) {
    this.socket._pushRaw(chunk);
  }

  onDrain() {
    this.socket._onDrain();
  }

  onBody(chunk) {
    const req = this.receiving;
    if (req === null || req.destroyed) return;
    this.socket._touch();
    this.socket._bytesRead += chunk.length;
    // The chunk is a view into the batch buffer; push takes it without copying.
    if (!req.push(chunk)) {
      this.bodyPaused = true;
      this.socket.pause();
    }
  }

  onEnd(rawTrailers) {
    const req = this.receiving;
    this.receiving = null;
    this.receivingUntilClose = false;
    // A full body buffer paused the connection; with the body complete, no further _read
    // will come to undo it, and the next request must still be read.
    if (this.bodyPaused) {
      this.bodyPaused = false;
      this.socket.resume();
    }
    if (req === null || req.destroyed) return;
    req.complete = true;
    if (rawTrailers.length > 0) req._addHeaderLines(rawTrailers, rawTrailers.length);
    // A reader already flowing is consuming the body, though IncomingMessage#_read (which
    // marks that) never runs when the end arrives with the body, before the flow starts: so
    // the end of the response does not dump what it is still to read, as on Node, where
    // the body reaches a server reading it after the head.
    const rs = req._readableState;
    if (rs.flowing === true || rs.readableListening) req._consuming = true;
    req.push(null);
  }

  onResponseFinish(req, res) {
    const socket = this.socket;
    const idx = this.incoming.indexOf(req);
    if (idx !== -1) this.incoming.splice(idx, 1);
    if (onResponseFinishChannel.hasSubscribers) {
      onResponseFinishChannel.publish({ request: req, response: res, socket, server: this.server });
    }
    // Unread request bodies are drained, as Node does, so the next request can be parsed.
    if (!req._consuming && !req._readableState.resumeScheduled) req._dump();
    res.detachSocket(socket);
    process.nextTick(emitCloseNT, res);
    if (this.closeOnFinish) {
      // After the socket's own write callback has returned: destroying inside it would error
      // the callbacks still queued behind it.
      process.nextTick(closeStream, socket);
      return;
    }
    this.state.responseDone(socket._id);
    if (res._last) {
      socket.destroySoon();
    } else if (this.outgoing.length === 0) {
      // After close(), a keep-alive connection ends with its last response.
      if (this.state.closing && this.incoming.length === 0) socket.destroySoon();
    } else {
      const next = this.outgoing.shift();
      next.assignSocket(socket);
    }
  }

  // The client sent FIN. Node sees it in a later read callback than the bytes before it, after
  // the ticks those bytes caused, so a handler that answers on its request's 'end' has answered
  // by then. A microtask runs after the batch's whole tick queue, as that read callback would;
  // later I/O (another socket's data) still comes after it, as on Node.
  onPeerEnd() {
    if (this.receivingUntilClose) {
      // Node's parser.finish() ends such a body, and its socketOnEnd follows at once.
      this.scope.runInAsyncScope(() => {
        this.onEnd([]);
        this.peerEnded();
      });
      return;
    }
    queueMicrotask(() => this.scope.runInAsyncScope(this.peerEnded, this));
  }

  // Node's http server does not stay half-open by default; an upgraded socket is the
  // application's, which sees 'end' like any net.Socket's.
  peerEnded() {
    const socket = this.socket;
    if (this.upgraded) {
      // As net.Socket's EOF: the read(0) lets 'end' come even if nobody reads the socket.
      socket.push(null);
      socket.read(0);
    } else if (!this.server.httpAllowHalfOpen) {
      if (socket.writable) socket.end();
    } else if (this.outgoing.length) {
      this.outgoing[this.outgoing.length - 1]._last = true;
    } else if (socket._httpMessage) {
      socket._httpMessage._last = true;
    } else if (socket.writable) {
      socket.end();
    }
  }

  onClose(code, message) {
    if (!code && this.isStream && this.incoming.length === 1 && this.socket._httpMessage
      && this.socket._httpMessage.writableEnded && this.receiving === null) {
      // The stream's response is complete on the wire; it closes as a finished response does.
      // Everything queued has left, so a write still waiting for DRAIN is done too.
      this.closeOnFinish = true;
      this.socket._onDrain();
      return;
    }
    const err = code ? Object.assign(new Error(message || code), { code }) : undefined;
    while (this.incoming.length) {
      const req = this.incoming.shift();
      req.destroy(connResetException('aborted'));
    }
    const receiving = this.receiving;
    if (receiving !== null && !receiving.destroyed) receiving.destroy(connResetException('aborted'));
    this.socket._onEngineClose(err);
  }

  onClientError(code, reason, bytesParsed, rawPacket) {
    let err;
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      err = Object.assign(new Error('Request timeout'), { code });
    } else if (code === 'HPE_INVALID_EOF_STATE') {
      // Node's parser.finish() error at the client's FIN: no packet, and no reason in the message.
      err = Object.assign(new Error('Parse Error'), { bytesParsed: 0, code, reason });
    } else {
      err = Object.assign(new Error(`Parse Error: ${reason}`), { code, reason, bytesParsed });
      // Copied so a kept error does not pin the whole event batch in memory.
      err.rawPacket = Buffer.from(rawPacket);
    }
    socketOnError.call(this.socket, err);
  }
}

function closeStream(socket) {
  socket._onEngineClose();
}

function emitCloseNT(res) {
  if (!res._closed) {
    res.destroyed = true;
    res._closed = true;
    res.emit('close');
  }
}

const noop = () => {};

// Node's socketOnError: 'clientError' if anyone listens, else a minimal error response.
function socketOnError(e) {
  this.removeListener('error', socketOnError);
  if (this.listenerCount('error', noop) === 0) this.on('error', noop);
  if (!this.server.emit('clientError', e, this)) {
    if (this.writable && (!this._httpMessage || !this._httpMessage._headerSent)) {
      let response;
      switch (e.code) {
        case 'HPE_HEADER_OVERFLOW': response = headerFieldsTooLargeResponse; break;
        case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': response = chunkExtensionsTooLargeResponse; break;
        case 'ERR_HTTP_REQUEST_TIMEOUT': response = requestTimeoutResponse; break;
        default: response = badRequestResponse;
      }
      this.write(response);
    }
    this.destroy(e);
  }
}

function socketSetEncoding() {
  const err = new Error('Changing the socket encoding is not allowed per RFC7230 Section 3.');
  err.code = 'ERR_HTTP_SOCKET_ENCODING';
  throw err;
}

function socketOnDrain() {
  emitResponseDrain(this);
}

// Node's socketOnTimeout: the request, response and server each get a chance to handle it.
function socketOnTimeout() {
  const conn = this[kConnection];
  const req = conn && conn.receiving;
  const reqTimeout = req && !req.complete && req.emit('timeout', this);
  const res = this._httpMessage;
  const resTimeout = res && res.emit('timeout', this);
  const serverTimeout = this.server.emit('timeout', this);
  if (!reqTimeout && !resTimeout && !serverTimeout) this.destroy();
}

module.exports = { Connection };
