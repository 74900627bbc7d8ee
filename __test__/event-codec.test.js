'use strict';
// The JS decoder reads the golden bytes the engine's encoder is pinned to
// (engine/tests/fixtures/events.golden, checked by engine/tests/event_codec.rs): every event
// kind, with Node's names for the engine's enums.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { dispatch } = require('../lib/events');
const { LENT_MIN } = require('../native');

const GOLDEN = path.join(__dirname, '..', 'engine', 'tests', 'fixtures', 'events.golden');

function golden() {
  const cases = new Map();
  for (const line of fs.readFileSync(GOLDEN, 'utf8').split('\n')) {
    if (!line) continue;
    const at = line.indexOf(': ');
    cases.set(line.slice(0, at), Buffer.from(line.slice(at + 2), 'hex'));
  }
  return cases;
}

// The piece the golden BODY_LENT event lends (engine/tests/event_codec.rs makes the same one).
const LENT_PIECE = Buffer.alloc(LENT_MIN, 'l');

// Stands where the native server stands for a batch: it hands over the batch's lent pieces.
function lender(pieces) {
  return { takeLent: () => pieces.shift() ?? null };
}

// A sink that records every call as [method, ...args].
function recorder() {
  const calls = [];
  const sink = new Proxy({}, { get: (_, method) => (...args) => calls.push([method, ...args]) });
  return { sink, calls };
}

const v4 = (address, port) => ({ address, port, family: 'IPv4' });
const none = { address: undefined, port: undefined, family: undefined };

const EXPECTED = {
  'OPEN tls': ['onOpen', 7, v4('127.0.0.1', 40000), { address: '::1', port: 443, family: 'IPv6' }, {
    protocol: 'TLSv1.3',
    cipher: { name: 'TLS_AES_128_GCM_SHA256', standardName: 'TLS_AES_128_GCM_SHA256' },
    alpn: 'http/1.1',
    servername: 'localhost',
    group: { type: 'ECDH', name: 'X25519MLKEM768', size: 253 },
    clientAuth: 2,
    authorizationError: 'CERT_REVOKED',
    resumed: true,
    peerChain: [Buffer.from([0x30, 0x01])],
  }],
  'OPEN plain unix': ['onOpen', 8, none, none, {
    protocol: null, cipher: null, alpn: '', servername: '', group: null,
    clientAuth: 0, authorizationError: null, resumed: false, peerChain: [],
  }],
  REQUEST: ['onRequest', 7, 'GET', '/a?b', 1, 1, ['Host', 'x', 'X-A', '\u00e9'], 2, null],
  'REQUEST upgrade': ['onRequest', 9, 'GET', '/ws', 1, 0, ['Connection', 'upgrade', 'Upgrade', 'ws'], 5, Buffer.from('early')],
  'REQUEST rewritten': ['onRequest', 10, 'GET', '/', 1, 2, ['X', 'a b\0'], 2, null],
  BODY: ['onBody', 7, Buffer.from('hello')],
  BODY_LENT: ['onBody', 7, LENT_PIECE],
  END: ['onEnd', 7, ['X-Sum', '11']],
  PEER_END: ['onPeerEnd', 7],
  CLOSE: ['onClose', 7, 'ECONNRESET', 'connection reset by peer'],
  'CLOSE clean': ['onClose', 8, '', ''],
  DRAIN: ['onDrain', 7],
  STREAM: ['onStream', 12, 7],
  CLIENT_ERROR: ['onClientError', 7, 'HPE_INVALID_HEADER_TOKEN', 'Invalid header token', 3, Buffer.from('Bad Header: x')],
  TLS_ERROR: ['onTlsError', 'ERR_SSL_WRONG_VERSION_NUMBER', 'received corrupt message', v4('127.0.0.2', 5)],
  'TLS_ERROR timeout': ['onTlsError', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'TLS handshake timeout', v4('127.0.0.2', 5)],
  ACCEPT_ERROR: ['onAcceptError', 24, 'Too many open files'],
  ACCEPT_PAUSED: ['onAcceptPaused', 24, 'Too many open files'],
  DATA: ['onData', 9, Buffer.from([0, 1, 2, 255])],
  KEYLOG: ['onKeylog', 7, Buffer.from('CLIENT_RANDOM aa bb')],
  PIPE_DATA: ['onPipeData', 4, Buffer.from('HTTP/1.1 200 OK\r\n')],
  PIPE_END: ['onPipeEnd', 4],
  PIPE_DRAIN: ['onPipeDrain', 4],
  ADOPTED: ['onAdopted', 7, 4],
  HELLO: ['onHello', 3, 'a.test', true, ['h2', 'http/1.1'], v4('127.0.0.1', 1234)],
};

// Buffers compare by content; views into the batch are normalized to plain Buffers.
function normalize(value) {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  return value;
}

test('the JS decoder reads every golden event as the engine encoded it', () => {
  const cases = golden();
  assert.deepStrictEqual([...cases.keys()].sort(), Object.keys(EXPECTED).sort(), 'one expectation per golden event');
  for (const [name, bytes] of cases) {
    const { sink, calls } = recorder();
    dispatch(bytes, sink, bytes.length, false, lender(name === 'BODY_LENT' ? [LENT_PIECE] : []));
    assert.deepStrictEqual(normalize(calls), [normalize(EXPECTED[name])], name);
  }
});

test('a batch of every event is decoded in order', () => {
  const cases = golden();
  const { sink, calls } = recorder();
  const batch = Buffer.concat([...cases.values()]);
  dispatch(batch, sink, batch.length, false, lender([LENT_PIECE]));
  assert.deepStrictEqual(calls.map((c) => c[0]), [...cases.keys()].map((name) => EXPECTED[name][0]));
});

test('a batch decoded from the reused buffer hands on copies, and only its length is read', () => {
  const cases = golden();
  const batch = Buffer.concat([...cases.values()]);
  const reused = Buffer.alloc(batch.length + 64, 0xff);
  batch.copy(reused);
  const { sink, calls } = recorder();
  dispatch(reused, sink, batch.length, true, lender([Buffer.from(LENT_PIECE)]));
  // The next batch overwrites the buffer; what listeners were given must not change.
  reused.fill(0);
  assert.deepStrictEqual(normalize(calls), [...cases.keys()].map((name) => normalize(EXPECTED[name])));
});

test('connections that opened alike share their decoded TLS facts and local address, and any difference gets its own', () => {
  const cases = golden();
  const plain = cases.get('OPEN plain unix');
  // The same OPEN with servername "a": kind, id, two empty addresses, version and cipher,
  // the empty ALPN, then the servername's length and bytes.
  const at = 1 + 4 + 4 + 4 + 2 + 2 + 1;
  const named = Buffer.concat([plain.subarray(0, at), Buffer.from([1, 0x61]), plain.subarray(at + 1)]);
  const { sink, calls } = recorder();
  dispatch(Buffer.concat([plain, cases.get('OPEN tls'), plain, named, plain]), sink);
  const [first, withChain, second, other, third] = calls.map(([, , , local, tls]) => ({ local, tls }));
  assert.strictEqual(second.tls, first.tls, 'equal facts decode to one object');
  assert.strictEqual(second.local, first.local, 'an equal local address decodes to one object');
  assert.notStrictEqual(withChain.tls, first.tls);
  assert.deepStrictEqual(withChain.tls.peerChain, [Buffer.from([0x30, 0x01])]);
  assert.deepStrictEqual(first.tls.peerChain, [], 'a client certificate is never shared');
  assert.notStrictEqual(other.tls, first.tls);
  assert.strictEqual(other.tls.servername, 'a');
  assert.strictEqual(first.tls.servername, '');
  assert.strictEqual(third.tls.servername, '');
});

test('a lent body piece is handed on as the Buffer it was lent as, not a copy', () => {
  const bytes = golden().get('BODY_LENT');
  const piece = Buffer.from(LENT_PIECE);
  const { sink, calls } = recorder();
  dispatch(bytes, sink, bytes.length, false, lender([piece]));
  assert.strictEqual(calls[0][2], piece);
});
