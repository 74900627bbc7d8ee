'use strict';
// A raw-frame HTTP/2 client for the attack tests: it writes frames exactly as given (floods,
// resets, malformed header blocks), which node:http2 refuses to send, and records what the
// server sends back (GOAWAY, RST_STREAM, the connection closing). HPACK is encoded with
// literals only (no Huffman), enough to form requests and header-table bombs.

const tls = require('node:tls');
const { pki } = require('../helpers');

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const TYPE = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 };
const SETTING = { INITIAL_WINDOW_SIZE: 4 };
const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 };

function frame(type, flags, stream, payload = Buffer.alloc(0)) {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

// An HPACK integer with an N-bit prefix (RFC 7541 5.1).
function hpackInt(n, prefixBits, firstBits = 0) {
  const max = (1 << prefixBits) - 1;
  if (n < max) return [firstBits | n];
  const out = [firstBits | max];
  let rest = n - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(s) {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7)), bytes]);
}

// A header field as a literal without indexing (new name), or added to the dynamic table.
function literal(name, value, { index = false } = {}) {
  return Buffer.concat([Buffer.from([index ? 0x40 : 0x00]), hpackString(name), hpackString(value)]);
}

// A reference to an entry of the dynamic table (the newest entry is 62).
function indexed(i) {
  return Buffer.from(hpackInt(i, 7, 0x80));
}

function requestBlock(path = '/', method = 'GET') {
  return Buffer.concat([literal(':method', method), literal(':scheme', 'https'), literal(':path', path), literal(':authority', 'localhost')]);
}

function settingsPayload(pairs) {
  const out = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, value], i) => { out.writeUInt16BE(id, i * 6); out.writeUInt32BE(value, i * 6 + 2); });
  return out;
}

// Connects with ALPN h2, sends the preface and SETTINGS, and resolves once the server's
// SETTINGS are acknowledged; records the server's frames.
function connectRaw(port, { settings = [] } = {}) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert, ALPNProtocols: ['h2'] }, () => {
      if (socket.alpnProtocol !== 'h2') {
        reject(new Error(`ALPN agreed on ${socket.alpnProtocol}, not h2`));
        return;
      }
      socket.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0, settingsPayload(settings))]));
    });
    let pending = Buffer.alloc(0);
    let onGoaway = null;
    const client = {
      socket,
      frames: [],
      goaway: null,
      closed: new Promise((r) => socket.on('close', r)),
      gotGoaway: new Promise((r) => { onGoaway = r; }),
      send(...frames) {
        if (!socket.destroyed) socket.write(Buffer.concat(frames));
      },
      resets() {
        return this.frames.filter((f) => f.type === TYPE.RST_STREAM).length;
      },
      // GOAWAY received or the connection closed, whichever comes first.
      ended() {
        return Promise.race([this.gotGoaway, this.closed]);
      },
    };
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const f = { type: pending[3], flags: pending[4], stream: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) };
        pending = pending.subarray(9 + length);
        client.frames.push(f);
        if (f.type === TYPE.SETTINGS && !(f.flags & FLAG.ACK)) {
          // Acknowledged before any attack frame goes out, so none is split by the ACK.
          client.send(frame(TYPE.SETTINGS, FLAG.ACK, 0));
          resolve(client);
        }
        if (f.type === TYPE.GOAWAY) {
          client.goaway = { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
          onGoaway(client.goaway);
        }
      }
    });
    socket.on('close', () => reject(new Error('closed before the handshake')));
  });
}

module.exports = { connectRaw, frame, literal, indexed, requestBlock, settingsPayload, TYPE, FLAG, SETTING, ERROR };
