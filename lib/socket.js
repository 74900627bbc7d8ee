'use strict';
// One socket object per connection, standing where Node's net.Socket / tls.TLSSocket stands:
// Node's ServerResponse writes its serialized HTTP/1.1 bytes here, and they go to the engine
// in one native call per write (or per corked batch, through _writev).

const net = require('node:net');
const tls = require('node:tls');
const { Duplex } = require('node:stream');
const { X509Certificate } = require('node:crypto');
const { rethrowEach } = require('./events');

// Write callbacks of TLS sockets run after the current turn of the event loop, as they do for
// Node's (whose writes complete in libuv): a response's 'finish' then follows the request's
// 'close' exactly as on node:https. One setImmediate serves every write of the turn. A plain
// socket's write completes at once, as libuv's synchronous try-write completes net.Socket's:
// `writableLength` is back to 0 when `write()` returns.
let completions = [];

// A callback that throws must not strand the ones after it (their responses would never
// 'finish'): once every callback has run, each error is rethrown from its own tick.
function flushCompletions() {
  const list = completions;
  completions = [];
  let failures = null;
  for (let i = 0; i < list.length; i++) {
    try {
      list[i]();
    } catch (err) {
      if (failures === null) failures = [];
      failures.push(err);
    }
  }
  if (failures !== null) rethrowEach(failures);
}

// The engine's thresholds for taking a write chunk by reference (src/native_server.rs):
// a chunk of LENT_MIN bytes or more may be a body piece the engine lent (a piped request
// body), taken back as its own bytes; other chunks of BY_REFERENCE_MIN bytes and more are
// held through a napi reference. Smaller chunks are cheaper to copy than a reference is to
// release.
const { LENT_MIN } = require('./native');
// Corked chunks up to this many bytes in all are joined on this side (see _writev).
const JOIN_MAX = 16 * 1024;

function complete(cb) {
  if (completions.length === 0) setImmediate(flushCompletions);
  completions.push(cb);
}

// net.Socket's own 'end' listener, which its constructor adds (code counting a socket's
// listeners, Node's own tests among it, expects it there): without allowHalfOpen, writing
// once this side has ended too fails with EPIPE.
function onReadableStreamEnd() {
  if (!this.allowHalfOpen) this.write = writeAfterFIN;
}

function writeAfterFIN(chunk, encoding, cb) {
  if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding, cb);
  if (typeof encoding === 'function') cb = encoding;
  const err = Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
  if (typeof cb === 'function') process.nextTick(cb, err);
  this.destroy(err);
  return false;
}

// `instanceof` as on Node: a plain connection's socket is a net.Socket, a TLS connection's a
// tls.TLSSocket (and a net.Socket), without running their constructors, which would open
// libuv and OpenSSL handles. Every net.Socket/TLSSocket method that would touch such a handle
// is overridden above; the others (end, read, ...) only use the stream state. One class per
// kind, each made by the same definition, so both keep V8's fast class shapes.
function defineSocket(parentPrototype) {
  class RhttpsSocket extends Duplex {
    constructor(native, id, remote, local, tls, server) {
      // allowHalfOpen as Node's http server sets it; autoDestroy off because the socket is
      // only gone when the engine says so (the CLOSE event), not when both sides have ended.
      // node:http's sockets take the server's highWaterMark; node:https's TLS sockets do not.
      super({ allowHalfOpen: true, autoDestroy: false, emitClose: true, highWaterMark: tls === null ? server.highWaterMark : undefined });
      this._native = native;
      this._id = id;
      this._pendingWrite = null;
      this._closedByEngine = false;
      this._timer = null;
      // The server state, for a connection over an adopted stream (see lib/adopted.js).
      this._pipeOwner = null;
      // Node's value for a socket no HTTP parser reads (its own after an upgrade): the engine
      // parses, so no JS parser is ever attached.
      this.parser = null;
      this._httpMessage = null;
      this._paused = false;
      this._raw = false;
      this.server = server;
      this._remote = remote;
      this._local = local;
      this.connecting = false;
      this._bytesRead = 0;
      this._bytesWritten = 0;
      // Large chunks go to the engine by reference; the engine reports them written (their
      // callback runs) only once they are on the wire, so the caller may reuse them after.
      this._byReference = true;
      if (tls !== null) {
        this.encrypted = true;
        // tls.TLSSocket's flag: the engine hands a socket over only once its handshake is done.
        this._secureEstablished = true;
        // tls.clientAuth: 0 no client certificate asked for, 1 verified, 2 not verified.
        this.authorized = tls.clientAuth === 1;
        this.authorizationError = tls.clientAuth === 2 ? tls.authorizationError : null;
        this.alpnProtocol = tls.alpn || false;
        this.servername = tls.servername || false;
        this._tls = tls;
      }
      this.on('end', onReadableStreamEnd);
    }

    // net.Socket's accessors read its libuv handle; these read what the engine reported.
    get remoteAddress() { return this._remote.address; }
    get remotePort() { return this._remote.port; }
    get remoteFamily() { return this._remote.family; }
    get localAddress() { return this._local.address; }
    get localPort() { return this._local.port; }
    get localFamily() { return this._local.family; }
    get bytesRead() { return this._bytesRead; }
    get bufferSize() { return this.writableLength; }
    get pending() { return false; }
    get readyState() {
      if (this.destroyed) return 'closed';
      if (this.writable && !this.readableEnded) return 'open';
      return this.writable ? 'writeOnly' : 'readOnly';
    }
    // As net.Socket: what went to the engine, plus what the stream still buffers.
    get bytesWritten() {
      let bytes = this._bytesWritten;
      for (const entry of this.writableBuffer) {
        // Entries already handed over are cleared to null in place.
        if (entry) bytes += Buffer.isBuffer(entry.chunk) ? entry.chunk.length : Buffer.byteLength(entry.chunk, entry.encoding);
      }
      return bytes;
    }

    address() {
      return { address: this.localAddress, family: this.localFamily, port: this.localPort };
    }

    _write(chunk, encoding, cb) {
      this._bytesWritten += chunk.length;
      this._touch();
      const queued = this._writeChunk(chunk);
      if (!queued) this._pendingWrite = cb;
      else if (this.encrypted) complete(cb);
      else cb();
    }

    // One chunk to the engine; a large one may go by reference (writev passes it without a
    // copy when it can).
    _writeChunk(chunk) {
      return this._byReference && chunk.length >= LENT_MIN
        ? this._native.writev(this._id, [chunk], true)
        : this._native.write(this._id, chunk);
    }

    _writev(chunks, cb) {
      // Empty chunks are left out: a response's end writes one after its body.
      const list = [];
      let total = 0;
      for (let i = 0; i < chunks.length; i++) {
        const chunk = chunks[i].chunk;
        if (chunk.length === 0) continue;
        list.push(chunk);
        total += chunk.length;
      }
      this._bytesWritten += total;
      this._touch();
      // A few small chunks (a corked response: head, chunk framing, body) are joined here and
      // take write(), whose argument is a plain view: writev's list costs napi an element
      // lookup and a reference per chunk, more than copying them. Larger ones go as a list,
      // joined (or lent) by the engine, so they are not copied twice.
      let queued;
      if (list.length === 0) queued = true;
      else if (list.length === 1) queued = this._writeChunk(list[0]);
      else if (total <= JOIN_MAX) queued = this._native.write(this._id, Buffer.concat(list, total));
      else queued = this._native.writev(this._id, list, this._byReference);
      if (!queued) this._pendingWrite = cb;
      else if (this.encrypted) complete(cb);
      else cb();
    }

    // The engine flushes what is queued, sends close_notify and FIN, then reports CLOSE.
    _final(cb) {
      this._touch();
      if (!this._closedByEngine) this._native.end(this._id);
      cb();
    }

    // In HTTP mode the engine parses what it reads and nothing reaches this side; once
    // upgraded, bytes are pushed here and a full buffer stops the engine reading.
    _read() {
      if (this._raw && !this.destroyed) this._native.resume(this._id);
    }

    _startRaw() {
      this._raw = true;
      this.readableFlowing = null;
      this._native.upgrade(this._id, true);
    }

    _pushRaw(chunk) {
      this._touch();
      this._bytesRead += chunk.length;
      if (!this.push(chunk)) this._native.pause(this._id);
    }

    _destroy(err, cb) {
      this._clearTimer();
      if (!this._closedByEngine) this._native.destroy(this._id);
      this._pendingWrite = null;
      cb(err);
    }

    // Called for the engine's DRAIN event: the write held back for backpressure is done.
    _onDrain() {
      const cb = this._pendingWrite;
      this._pendingWrite = null;
      if (cb) cb();
    }

    _onEngineClose(err) {
      this._closedByEngine = true;
      this.destroy(err);
    }

    // Stops the engine reading from this connection: a paused request body becomes TCP
    // backpressure. IncomingMessage#_read calls resume() to undo it.
    pause() {
      this._native.pause(this._id);
      return super.pause();
    }

    resume() {
      if (!this.destroyed) this._native.resume(this._id);
      return super.resume();
    }

    // As net.Socket's: ended now, destroyed once what was written has finished. Destroying at
    // once, inside the last write's own callback, made Node's stream error every callback
    // still queued (an ERR_STREAM_DESTROYED with its stack, per connection).
    destroySoon() {
      if (this.writable) this.end();
      if (this.writableFinished) this.destroy();
      else this.once('finish', this.destroy);
    }

    setTimeout(ms, cb) {
      if (cb) {
        if (ms === 0) this.removeListener('timeout', cb);
        else this.once('timeout', cb);
      }
      this._clearTimer();
      if (ms > 0 && !this.destroyed) {
        this._timer = setTimeout(() => {
          this._timer = null;
          this.emit('timeout');
        }, ms);
        this._timer.unref();
      }
      return this;
    }

    // Any traffic restarts the inactivity timer, as it does for net.Socket.
    _touch() {
      if (this._timer !== null) this._timer.refresh();
      if (this._pipeOwner !== null) this._pipeOwner.pipeActivity();
    }

    _clearTimer() {
      if (this._timer !== null) {
        clearTimeout(this._timer);
        this._timer = null;
      }
    }

    // net.Socket's timer hook, called by Node's stream code on activity.
    _unrefTimer() { this._touch(); }
    _getpeername() { return { address: this.remoteAddress, port: this.remotePort, family: this.remoteFamily }; }
    _getsockname() { return this.address(); }
    resetAndDestroy() { return this.destroy(); }

    // TCP_NODELAY is always on in the engine (Node's http default); keep-alive probes are
    // left to the OS defaults.
    setNoDelay() { return this; }
    setKeepAlive() { return this; }
    ref() { return this; }
    unref() { return this; }

    getProtocol() { return this._tls ? this._tls.protocol : null; }
    getCipher() {
      const cipher = this._tls && this._tls.cipher;
      return cipher ? { name: cipher.name, standardName: cipher.standardName, version: this._tls.protocol } : undefined;
    }
    // Node's object shape, from Node's own X509Certificate; `detailed` links issuerCertificate
    // through the chain the client sent, ending on itself at a self-signed certificate.
    getPeerCertificate(detailed) {
      if (!this._tls) return null;
      const chain = this._tls.peerChain;
      if (chain.length === 0) return {};
      if (!detailed) return new X509Certificate(chain[0]).toLegacyObject();
      const objects = chain.map((der) => new X509Certificate(der).toLegacyObject());
      for (let i = 0; i < objects.length; i++) {
        const next = objects[i + 1];
        if (next) objects[i].issuerCertificate = next;
        else if (objects[i].subject && JSON.stringify(objects[i].subject) === JSON.stringify(objects[i].issuer)) {
          objects[i].issuerCertificate = objects[i];
        }
      }
      return objects[0];
    }

    getX509Certificate() {
      const chain = this._tls ? this._tls.peerChain : [];
      return chain.length ? new X509Certificate(chain[0]) : undefined;
    }

    // Node answers null on server sockets; rhttps knows the negotiated group and says so.
    getEphemeralKeyInfo() {
      return this._tls && this._tls.group ? { ...this._tls.group } : null;
    }
    isSessionReused() { return Boolean(this._tls && this._tls.resumed); }

    // tls.TLSSocket's methods that read OpenSSL state rhttps does not have: what Node answers
    // when that state is absent, or a clear error where the operation cannot be done.
    getCertificate() { return null; }
    getSession() { return undefined; }
    getTLSTicket() { return undefined; }
    getFinished() { return undefined; }
    getPeerFinished() { return undefined; }
    getSharedSigalgs() { return []; }
    getPeerX509Certificate() { return this.getX509Certificate(); }
    setMaxSendFragment() { return false; }
    disableRenegotiation() {}
    renegotiate(options, callback) {
      const err = new Error('TLS renegotiation is not supported: rustls does not renegotiate (TLS 1.3 has no renegotiation)');
      err.code = 'ERR_TLS_RENEGOTIATION_DISABLED';
      if (typeof callback === 'function') process.nextTick(callback, err);
      return false;
    }
    exportKeyingMaterial() {
      const err = new Error('exportKeyingMaterial() is not supported by rhttps yet');
      err.code = 'ERR_RHTTPS_UNSUPPORTED';
      throw err;
    }
  }
  Object.setPrototypeOf(RhttpsSocket.prototype, parentPrototype);
  return RhttpsSocket;
}

const RhttpsSocket = defineSocket(net.Socket.prototype);
const RhttpsTlsSocket = defineSocket(tls.TLSSocket.prototype);

// One socket class per kind of connection.
function createSocket(native, id, remote, local, tlsInfo, server) {
  return tlsInfo === null
    ? new RhttpsSocket(native, id, remote, local, tlsInfo, server)
    : new RhttpsTlsSocket(native, id, remote, local, tlsInfo, server);
}

module.exports = { RhttpsSocket, RhttpsTlsSocket, createSocket };
