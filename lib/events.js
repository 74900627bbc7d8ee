'use strict';
// Decodes one batch of engine events (layout: the table in engine/src/events.rs) and hands
// each to the server's connection handlers. Strings are latin1, as Node's own parser produces
// them. Events carry the engine's enums and TLS's numbers; the native module's nodeNames()
// tables (src/node_names.rs) turn them into Node's codes and names here, once per event.

const { nodeNames } = require('./native');

const NAMES = nodeNames();

const OPEN = 1;
const REQUEST = 2;
const BODY = 3;
const END = 4;
const PEER_END = 5;
const CLOSE = 6;
const DRAIN = 7;
const CLIENT_ERROR = 8;
const TLS_ERROR = 9;
const ACCEPT_ERROR = 10;
const DATA = 11;
const KEYLOG = 12;
const HELLO = 13;
const ACCEPT_PAUSED = 14;
const STREAM = 15;
const PIPE_DATA = 16;
const PIPE_END = 17;
const PIPE_DRAIN = 18;
const ADOPTED = 19;
const BODY_LENT = 20;

const FLAG_HAS_BODY = 1;
const FLAG_KEEP_ALIVE = 2;
const FLAG_UPGRADE = 4;
const FLAG_BODY_UNTIL_CLOSE = 8;

const FAMILY = { 4: 'IPv4', 6: 'IPv6' };

// The connections of a server mostly share their local address, their clients' addresses and
// their TLS facts, and an idle connection keeps what its OPEN said for its whole life: equal
// values decode to one string or object instead of a copy each. Nothing changes these objects
// after decoding (sockets only read them). Each cache starts again past SHARED_MAX entries.
const SHARED_MAX = 256;
const interned = new Map();
// Local addresses by address, TLS facts by servername: the last of each.
const locals = new Map();
const tlsFacts = new Map();

function remember(map, key, value) {
  if (map.size >= SHARED_MAX) map.clear();
  map.set(key, value);
  return value;
}

function intern(s) {
  const known = interned.get(s);
  return known !== undefined ? known : remember(interned, s, s);
}

const NO_CERTS = Object.freeze([]);

class Reader {
  // `reused`: the buffer is taken again for the next batch, so bytes handed on are copies.
  constructor(buf, reused) {
    this.buf = buf;
    this.o = 0;
    this.reused = reused;
    this.method = '';
    this.url = '';
  }
  u8() { return this.buf[this.o++]; }
  u16() { const v = this.buf.readUInt16LE(this.o); this.o += 2; return v; }
  u32() { const v = this.buf.readUInt32LE(this.o); this.o += 4; return v; }
  i32() { const v = this.buf.readInt32LE(this.o); this.o += 4; return v; }
  str(len) { const s = this.buf.latin1Slice(this.o, this.o + len); this.o += len; return s; }
  str8() { return this.str(this.u8()); }
  utf16() { const len = this.u16(); const s = this.buf.utf8Slice(this.o, this.o + len); this.o += len; return s; }
  view32() { const len = this.u32(); const b = this.buf.subarray(this.o, this.o + len); this.o += len; return b; }
  // Bytes for a listener: a view into the batch when the batch is its own, else a copy.
  bytes32() { return this.reused ? Buffer.from(this.view32()) : this.view32(); }
  // Bytes kept past the batch (as long as a socket): always a copy.
  owned32() { return Buffer.from(this.view32()); }
  // An address as Node's sockets expose it: unknown parts (unix sockets) are undefined.
  // With `shared` (a map by address), an address equal to the last one decoded there is
  // that same object.
  addr(shared = null) {
    const address = intern(this.str8()) || undefined;
    const port = this.u16() || undefined;
    const family = FAMILY[this.u8()];
    if (shared === null) return { address, port, family };
    const known = shared.get(address);
    if (known !== undefined && known.port === port && known.family === family) return known;
    return remember(shared, address, { address, port, family });
  }
  // `count` name/value pairs (a request's or a chunked body's trailers).
  headers(count) {
    const start = this.o;
    return this.pairs(this.buf.latin1Slice(start, this.pairsEnd(start, count)), start, count);
  }
  // A request's method, URL and headers, into `method`, `url` and the returned raw headers.
  // Their text is decoded by one call into Node's Buffer binding and cut into strings in JS:
  // a call per string cost more than decoding the string.
  requestHead() {
    const buf = this.buf;
    const start = this.o;
    const methodLen = buf[start];
    const urlAt = start + 1 + methodLen;
    const countAt = urlAt + 4 + buf.readUInt32LE(urlAt);
    const count = buf.readUInt16LE(countAt);
    const text = buf.latin1Slice(start, this.pairsEnd(countAt + 2, count));
    this.method = text.slice(1, 1 + methodLen);
    this.url = text.slice(urlAt + 4 - start, countAt - start);
    this.o = countAt + 2;
    return this.pairs(text, start, count);
  }
  // Where `count` name/value pairs that start at `o` end.
  pairsEnd(o, count) {
    for (let i = 0; i < count; i++) {
      o += 2 + this.buf.readUInt16LE(o);
      o += 4 + this.buf.readUInt32LE(o);
    }
    return o;
  }
  // Cuts `count` name/value pairs out of `text`, the latin1 decoding of the bytes from `start`.
  pairs(text, start, count) {
    const buf = this.buf;
    const raw = new Array(count * 2);
    let o = this.o;
    for (let i = 0; i < raw.length; i += 2) {
      const nameLen = buf.readUInt16LE(o);
      o += 2;
      raw[i] = text.slice(o - start, o - start + nameLen);
      o += nameLen;
      const valueLen = buf.readUInt32LE(o);
      o += 4;
      raw[i + 1] = text.slice(o - start, o - start + valueLen);
      o += valueLen;
    }
    this.o = o;
    return raw;
  }
}

// One object per group, shared by the connections that used it (getEphemeralKeyInfo hands
// out copies).
const keyInfos = new Map();

// getEphemeralKeyInfo()'s shape for an IANA group number (0: none negotiated).
function keyInfo(group) {
  if (group === 0) return null;
  let info = keyInfos.get(group);
  if (info === undefined) {
    const known = NAMES.groups[group];
    info = known ? { type: 'ECDH', name: known.name, size: known.size } : { type: 'ECDH', name: `group 0x${group.toString(16)}` };
    keyInfos.set(group, info);
  }
  return info;
}

function sameTls(a, b) {
  return a.protocol === b.protocol && a.cipher === b.cipher && a.alpn === b.alpn &&
    a.servername === b.servername && a.group === b.group && a.clientAuth === b.clientAuth &&
    a.authorizationError === b.authorizationError && a.resumed === b.resumed;
}

// Small batches are copied into this buffer, taken again for every batch of every server: a
// batch is decoded to its end before the next is taken, as batches arrive from the event
// loop. The busy flag keeps that true should a listener ever take a batch itself.
const SCRATCH_SIZE = 32 * 1024;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_SIZE);
let scratchBusy = false;

// Takes a server's pending batch from its native side and dispatches it.
function dispatchPending(native, sink) {
  const into = scratchBusy ? Buffer.allocUnsafeSlow(SCRATCH_SIZE) : scratch;
  const taken = native.takeEventsInto(into);
  if (typeof taken !== 'number') {
    dispatch(taken, sink, taken.length, false, native);
  } else if (into !== scratch) {
    dispatch(into, sink, taken, false, native);
  } else {
    scratchBusy = true;
    try {
      dispatch(scratch, sink, taken, true, native);
    } finally {
      scratchBusy = false;
    }
  }
}

// Calls `sink` once per event of `buf`'s first `length` bytes. An exception from application
// code (a 'request' listener) must not lose the rest of the batch: each is collected and
// rethrown after the batch, one throw per exception and in order, so 'uncaughtException'
// sees every one as on node:https. `lender` is the native server whose batch this is: it
// hands over the body pieces lent beside the batch (BODY_LENT), in order.
function dispatch(buf, sink, length = buf.length, reused = false, lender = null) {
  const r = new Reader(buf, reused);
  let failures = null;
  while (r.o < length) {
    const kind = r.u8();
    const id = r.u32();
    try {
      switch (kind) {
        case OPEN: {
          const remote = r.addr();
          const local = r.addr(locals);
          const version = r.u16();
          const cipher = r.u16();
          let tls = {
            protocol: NAMES.versions[version] || null,
            cipher: NAMES.ciphers[cipher] || null,
            alpn: intern(r.str8()),
            servername: intern(r.str8()),
            group: keyInfo(r.u16()),
            // 0: no client certificate asked for, 1: verified, 2: not verified (and why).
            clientAuth: r.u8(),
            authorizationError: NAMES.verifyErrors[r.u8()] || null,
            resumed: r.u8() === 1,
            peerChain: NO_CERTS,
          };
          const certs = r.u8();
          if (certs > 0) {
            tls.peerChain = Array.from({ length: certs }, () => r.owned32());
          } else {
            const known = tlsFacts.get(tls.servername);
            if (known !== undefined && sameTls(known, tls)) tls = known;
            else remember(tlsFacts, tls.servername, tls);
          }
          sink.onOpen(id, remote, local, tls);
          break;
        }
        case REQUEST: {
          const flags = r.u8();
          const major = r.u8();
          const minor = r.u8();
          const rawHeaders = r.requestHead();
          const method = r.method;
          const url = r.url;
          // Kept by an upgrade listener (ws unshifts it), so a copy, not a view into the batch.
          const head = (flags & FLAG_UPGRADE) !== 0 ? r.owned32() : null;
          sink.onRequest(id, method, url, major, minor, rawHeaders, flags, head);
          break;
        }
        case BODY: sink.onBody(id, r.bytes32()); break;
        case BODY_LENT: {
          // Taken before anything can throw, so the next BODY_LENT gets its own piece.
          const len = r.u32();
          const piece = lender === null ? null : lender.takeLent();
          if (piece === null || piece.length !== len) {
            throw new Error('rhttps: a lent body piece is missing (binary and JS layer out of step)');
          }
          sink.onBody(id, piece);
          break;
        }
        case END: sink.onEnd(id, r.headers(r.u16())); break;
        case PEER_END: sink.onPeerEnd(id); break;
        case CLOSE: {
          const code = NAMES.closeReasons[r.u8()];
          sink.onClose(id, code, r.utf16());
          break;
        }
        case DRAIN: sink.onDrain(id); break;
        case STREAM: sink.onStream(id, r.u32()); break;
        case PIPE_DATA: sink.onPipeData(id, r.bytes32()); break;
        case PIPE_END: sink.onPipeEnd(id); break;
        case PIPE_DRAIN: sink.onPipeDrain(id); break;
        case ADOPTED: sink.onAdopted(id, r.u32()); break;
        case CLIENT_ERROR: {
          const [code, reason] = NAMES.requestErrors[r.u8()];
          const parsed = r.u32();
          sink.onClientError(id, code, reason, parsed, r.bytes32());
          break;
        }
        case TLS_ERROR: {
          const [code, fixed] = NAMES.handshakeFailures[r.u8()];
          const detail = r.utf16();
          sink.onTlsError(code, fixed || detail, r.addr());
          break;
        }
        case ACCEPT_ERROR: sink.onAcceptError(r.i32(), r.utf16()); break;
        case ACCEPT_PAUSED: sink.onAcceptPaused(r.i32(), r.utf16()); break;
        case DATA: sink.onData(id, r.bytes32()); break;
        case KEYLOG: sink.onKeylog(id, r.owned32()); break;
        case HELLO: {
          const hello = r.u32();
          const servername = r.str8();
          const offersAlpn = r.u8() === 1;
          const protocols = Array.from({ length: r.u8() }, () => r.str8());
          sink.onHello(hello, servername, offersAlpn, protocols, r.addr());
          break;
        }
        default:
          throw new Error(`rhttps: unknown engine event ${kind} (binary and JS layer out of step)`);
      }
    } catch (err) {
      if (failures === null) failures = [];
      failures.push(err);
    }
  }
  if (failures !== null) rethrowEach(failures);
}

// Throws each error from its own tick: one 'uncaughtException' per error, in order.
function rethrowEach(errors) {
  for (const err of errors) process.nextTick(() => { throw err; });
}

module.exports = { dispatch, dispatchPending, rethrowEach, FLAG_HAS_BODY, FLAG_KEEP_ALIVE, FLAG_UPGRADE, FLAG_BODY_UNTIL_CLOSE };
