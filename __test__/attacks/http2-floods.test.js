'use strict';
// HTTP/2 attacks with a raw-frame client: each ends in GOAWAY or the connection closing
// within 5 s, while fresh HTTP/2 and HTTP/1.1 requests on other connections keep being served.
// Every flood is bounded in count; traffic goes to 127.0.0.1 only.

const test = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const path = require('node:path');
const rhttps = require('../..');
const { pki, listen, close, request, within } = require('../helpers');
const { connectRaw, frame, literal, indexed, requestBlock, settingsPayload, TYPE, FLAG, SETTING, ERROR } = require('./h2-raw-client');

const ENDED_WITHIN = 5000;

function serve() {
  const big = Buffer.alloc(1024 * 1024, 'b');
  return rhttps.createServer({ ...pki().serverOptions, allowHTTP2: true }, (req, res) => {
    if (req.url === '/big') res.end(big);
    else res.end('fresh');
  });
}

// A fresh request over each protocol on new connections, each answered promptly.
async function freshRequestsSucceed(port) {
  const h1 = await within(request(port, { path: '/' }), 2000, 'a fresh HTTP/1.1 request');
  assert.equal(h1.body.toString(), 'fresh');
  const session = http2.connect(`https://localhost:${port}`, { ca: pki().rootCert });
  session.on('error', () => {});
  try {
    const body = await within(new Promise((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let data = '';
      req.on('data', (d) => { data += d; });
      req.on('end', () => resolve(data));
      req.on('error', reject);
      req.end();
    }), 2000, 'a fresh HTTP/2 request');
    assert.equal(body, 'fresh');
  } finally {
    session.close();
  }
}

// Runs `attack` on a raw connection; it must end in GOAWAY or close within ENDED_WITHIN, and
// other clients must be served meanwhile. Resolves with the GOAWAY seen (or null).
async function survives(attack, { settings } = {}) {
  const server = serve();
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const raw = await connectRaw(port, { settings });
    const started = Date.now();
    const ended = raw.ended();
    await attack(raw);
    await freshRequestsSucceed(port);
    await within(ended, ENDED_WITHIN, 'GOAWAY or close of the attacking connection');
    assert.ok(Date.now() - started < ENDED_WITHIN + 1000);
    await freshRequestsSucceed(port);
    raw.socket.destroy();
    return raw.goaway;
  } finally {
    await within(close(server), 5000, 'the server closing');
  }
}

const GET = (stream, path = '/') => frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, stream, requestBlock(path));
const cancel = (stream) => frame(TYPE.RST_STREAM, 0, stream, Buffer.from([0, 0, 0, ERROR.CANCEL]));

test('rapid reset (CVE-2023-44487): streams opened and cancelled at once end in GOAWAY', async () => {
  const goaway = await survives(async (raw) => {
    for (let batch = 0; batch < 10; batch++) {
      const frames = [];
      for (let i = 0; i < 500; i++) {
        const stream = 2 * (batch * 500 + i) + 1;
        frames.push(GET(stream), cancel(stream));
      }
      raw.send(...frames);
      if (raw.goaway) break;
      await new Promise((r) => setImmediate(r));
    }
  });
  assert.equal(goaway && goaway.code, ERROR.ENHANCE_YOUR_CALM, JSON.stringify(goaway));
});

test('CONTINUATION flood: a header block that never ends is cut off', async () => {
  await survives(async (raw) => {
    const frames = [frame(TYPE.HEADERS, 0, 1, requestBlock())];
    for (let i = 0; i < 20000; i++) frames.push(frame(TYPE.CONTINUATION, 0, 1, literal(`x-h${i % 10}`, 'v')));
    raw.send(...frames);
  });
});

test('HPACK bomb: one table entry referenced until the header list explodes is refused', async () => {
  await survives(async (raw) => {
    for (let s = 0; s < 400 && !raw.goaway && !raw.socket.destroyed; s++) {
      const refs = Buffer.concat(Array.from({ length: 4000 }, () => indexed(62)));
      const block = Buffer.concat([requestBlock(), literal('x-bomb', 'a'.repeat(4000), { index: true }), refs]);
      raw.send(frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2 * s + 1, block));
      await new Promise((r) => setImmediate(r));
    }
  });
});

for (const [name, make] of [
  ['SETTINGS flood', () => frame(TYPE.SETTINGS, 0, 0, settingsPayload([[SETTING.INITIAL_WINDOW_SIZE, 65535]]))],
  ['PING flood', () => frame(TYPE.PING, 0, 0, Buffer.alloc(8))],
  ['PRIORITY flood', () => frame(TYPE.PRIORITY, 0, 3, Buffer.from([0, 0, 0, 0, 16]))],
]) {
  test(`${name}: ends in GOAWAY ENHANCE_YOUR_CALM`, async () => {
    const goaway = await survives(async (raw) => {
      raw.send(...Array.from({ length: 5000 }, make));
    });
    assert.equal(goaway && goaway.code, ERROR.ENHANCE_YOUR_CALM, JSON.stringify(goaway));
  });
}

test('empty DATA flood on an open stream ends in GOAWAY ENHANCE_YOUR_CALM', async () => {
  const goaway = await survives(async (raw) => {
    const open = frame(TYPE.HEADERS, FLAG.END_HEADERS, 1, requestBlock('/', 'POST'));
    raw.send(open, ...Array.from({ length: 5000 }, () => frame(TYPE.DATA, 0, 1)));
  });
  assert.equal(goaway && goaway.code, ERROR.ENHANCE_YOUR_CALM, JSON.stringify(goaway));
});

test('zero-window pile-up: streams whose responses are never let through end in GOAWAY', async () => {
  const goaway = await survives(async (raw) => {
    raw.send(...Array.from({ length: 60 }, (_, i) => GET(2 * i + 1, '/big')));
  }, { settings: [[SETTING.INITIAL_WINDOW_SIZE, 0]] });
  assert.equal(goaway && goaway.code, ERROR.ENHANCE_YOUR_CALM, JSON.stringify(goaway));
});

test('MadeYouReset (CVE-2025-8671): frames that make the server reset streams end in GOAWAY', async () => {
  await survives(async (raw) => {
    const frames = [];
    for (let i = 0; i < 2000; i++) {
      const stream = 2 * i + 1;
      // A zero window increment is a stream error: the server resets the stream itself.
      frames.push(frame(TYPE.HEADERS, FLAG.END_HEADERS, stream, requestBlock('/', 'POST')),
        frame(TYPE.WINDOW_UPDATE, 0, stream, Buffer.from([0, 0, 0, 0])));
    }
    raw.send(...frames);
  });
});

test('a header block left open (HEADERS without END_HEADERS) ends in GOAWAY after headersTimeout', async () => {
  const server = rhttps.createServer({ ...pki().serverOptions, allowHTTP2: true, headersTimeout: 1000, requestTimeout: 2000 }, (req, res) => res.end('fresh'));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const raw = await connectRaw(port);
    const started = Date.now();
    raw.send(frame(TYPE.HEADERS, 0, 1, requestBlock()));
    await freshRequestsSucceed(port);
    await within(raw.ended(), ENDED_WITHIN, 'GOAWAY for the open header block');
    assert.ok(Date.now() - started >= 900, 'not before headersTimeout');
    raw.socket.destroy();
  } finally {
    await within(close(server), 5000, 'the server closing');
  }
});

// A server in a process of its own, so that its JS thread can be kept busy while this test's
// client goes on sending. Resolves with its port and the child.
// The test's certificate is passed in RHTTPS_TEST_TLS, so this side's client trusts it.
function serverProcess(source) {
  const { spawn } = require('node:child_process');
  const tls = JSON.stringify({ key: String(pki().leafKey), cert: String(pki().leafCert), ca: String(pki().intCert) });
  const child = spawn(process.execPath, ['-e', source], { cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, RHTTPS_TEST_TLS: tls }, stdio: ['ignore', 'pipe', 'inherit'] });
  return within(new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/port (\d+)/);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.on('exit', (code) => reject(new Error(`server process exited with ${code}`)));
  }), 10000, 'the server process');
}

test('streams the client resets keep their place among the handlers until the JS side has seen them end: past the bound new streams are refused', async () => {
  // While the server's JS thread is busy, streams reset after they reached it still have
  // handlers waiting to hear of it; they count, so a client cannot pile up work faster than
  // the JS side lets go of it (MadeYouReset's pattern, with client resets standing in).
  const { port, child } = await serverProcess(`
    const rhttps = require('./index.js');
    rhttps.createServer({ ...JSON.parse(process.env.RHTTPS_TEST_TLS), allowHTTP2: true }, (req, res) => {
      if (req.url === '/block') { const until = Date.now() + 3000; while (Date.now() < until); }
      res.end('fresh');
    }).listen(0, '127.0.0.1', function () { console.log('port ' + this.address().port); });
  `);
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  const refused = (raw) => raw.frames.filter((f) => f.type === TYPE.RST_STREAM && f.payload.readUInt32BE(0) === ERROR.REFUSED_STREAM).length;
  try {
    const raw = await connectRaw(port);
    raw.send(GET(1, '/block'));
    await pause(200);
    // Two rounds of 95 streams, each accepted and then reset by the client, then 95 more:
    // never more than 96 open at once (h2's own limit is 100), 286 handlers if resets count.
    let next = 3;
    for (let round = 0; round < 3; round++) {
      const ids = Array.from({ length: 95 }, () => { const id = next; next += 2; return id; });
      raw.send(...ids.map((id) => GET(id)));
      await pause(250);
      if (round < 2) {
        raw.send(...ids.map(cancel));
        await pause(250);
      }
    }
    await within((async () => { while (refused(raw) === 0) await pause(50); })(), 5000, 'REFUSED_STREAM past the handler bound');
    assert.equal(raw.goaway, null, 'refused, not a connection error');
    raw.socket.destroy();
    // Once the JS side has caught up, the places are free again.
    await pause(3000);
    const again = await connectRaw(port);
    again.send(GET(1));
    await within((async () => { while (!again.frames.some((f) => f.type === TYPE.HEADERS)) await pause(50); })(), 5000, 'a fresh stream answered');
    again.socket.destroy();
  } finally {
    child.kill('SIGTERM');
  }
});
