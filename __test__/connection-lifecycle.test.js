'use strict';
// Each connection has one owner in the engine: destroy() and close() end it whatever it waits
// on, an engine bug costs one connection and still closes it on the JS side, a server goes away
// with the Node environment (worker) that made it, and a blocked JS thread bounds the engine's
// event buffer, accepting included.

const test = require('node:test');
const assert = require('node:assert');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');
const { Worker } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const rhttps = require('..');
const rhttpsHttp = require('../http');
const { kState } = require('../lib/server');
const { ROOT, pki, listen, close, request, runScript, within } = require('./helpers');

test('closeAllConnections then close(cb) ends a connection whose client stopped reading, and the process exits', async () => {
  const script = `
    const tls = require('node:tls');
    const rhttps = require(${JSON.stringify(ROOT)});
    const { pki } = require(${JSON.stringify(path.join(__dirname, 'helpers'))});
    const big = Buffer.alloc(32 * 1024 * 1024, 120);
    const server = rhttps.createServer(pki().serverOptions, (req, res) => {
      res.end(big);
      // The response is queued far past what the socket takes: the writer is blocked.
      setTimeout(() => {
        server.closeAllConnections();
        const late = setTimeout(() => { console.log('close callback late'); process.exit(1); }, 1000);
        server.close(() => { clearTimeout(late); console.log('closed'); });
      }, 300);
    });
    server.listen(0, '127.0.0.1', () => {
      const sock = tls.connect({ port: server.address().port, host: '127.0.0.1', servername: 'localhost', ca: pki().rootCert }, () => {
        sock.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
        sock.pause();
      });
      sock.on('error', () => {});
    });
  `;
  const r = await runScript(script, { timeoutMs: 15000 });
  assert.strictEqual(r.signal, null, `killed: ${r.stderr}`);
  assert.match(r.stdout, /^closed$/m, r.stdout + r.stderr);
  assert.strictEqual(r.code, 0, r.stderr);
});

test('a panic inside a connection task closes that connection on the JS side and the server keeps serving', async () => {
  const server = rhttps.createServer(pki().serverOptions, (req, res) => res.end(`hello ${req.url}`));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const opened = new Promise((resolve) => server.once('secureConnection', resolve));
    const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki().rootCert });
    sock.on('error', () => {});
    const serverSocket = await within(opened, 3000, 'secureConnection');
    const closed = new Promise((resolve) => serverSocket.once('close', resolve));
    const clientGone = new Promise((resolve) => sock.once('close', resolve));
    server[kState].native._injectFault(serverSocket._id);
    await within(closed, 3000, "the server socket's 'close'");
    await within(clientGone, 3000, 'the client seeing its connection closed');
    const n = await new Promise((resolve) => server.getConnections((err, count) => resolve(count)));
    assert.strictEqual(n, 0, 'the connection is gone from the server');
    const again = await within(request(port, { path: '/after' }), 3000, 'a request after the panic');
    assert.strictEqual(again.body.toString(), 'hello /after');
  } finally {
    await close(server);
  }
});

// A worker that listens, answers once, then goes away without close().
const WORKER = `
  const { parentPort, workerData } = require('node:worker_threads');
  const http = require(workerData.root + '/http');
  const server = http.createServer((req, res) => res.end('from worker'));
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  parentPort.on('message', (how) => { if (how === 'exit') process.exit(0); });
`;

for (const how of ['terminate', 'exit']) {
  test(`a worker that listens and ends (${how}) without close() frees its port at once`, async () => {
    const worker = new Worker(WORKER, { eval: true, workerData: { root: ROOT } });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const port = await within(new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }), 5000, 'the worker listening');
    const body = await within(new Promise((resolve, reject) => {
      require('node:http').get({ host: '127.0.0.1', port, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    }), 3000, 'a request to the worker');
    assert.strictEqual(body, 'from worker');
    if (how === 'terminate') worker.terminate();
    else worker.postMessage('exit');
    await within(exited, 5000, 'the worker exiting');
    const probe = net.createServer();
    await within(new Promise((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', resolve);
    }), 2000, 'binding the port again');
    await new Promise((resolve) => probe.close(resolve));
  });
}

// A worker holding servers in each state its wake-up can be in at teardown: collected (closed
// by its finalizer), made and never listened, listening. A wake-up still open when the
// worker's loop closes would abort the whole process.
const WORKER_SERVERS = `
  const { parentPort, workerData } = require('node:worker_threads');
  const http = require(workerData.root + '/http');
  require('node:v8').setFlagsFromString('--expose-gc');
  http.createServer(() => {});
  require('node:vm').runInNewContext('gc')();
  const kept = http.createServer(() => {});
  const server = http.createServer((req, res) => res.end('from worker'));
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  parentPort.on('message', () => process.exit(kept ? 7 : 0));
`;

test('a worker with a collected, an idle and a listening server exits with its own code', async () => {
  const worker = new Worker(WORKER_SERVERS, { eval: true, workerData: { root: ROOT } });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const port = await within(new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  }), 5000, 'the worker listening');
  const body = await within(new Promise((resolve, reject) => {
    require('node:http').get({ host: '127.0.0.1', port, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  }), 3000, 'a request to the worker');
  assert.strictEqual(body, 'from worker');
  worker.postMessage('exit');
  assert.strictEqual(await within(exited, 5000, 'the worker exiting'), 7);
});

// Opens `count` connections, each sending one request, and reports how many were answered.
const FLOOD = `
  const net = require('node:net');
  const [port, count] = process.argv.slice(1).map(Number);
  let answered = 0, finished = 0;
  console.log('started');
  for (let i = 0; i < count; i++) {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'));
    let text = '';
    s.on('data', (d) => { text += d; });
    s.on('error', () => {});
    s.on('close', () => {
      if (text.startsWith('HTTP/1.1 200')) answered++;
      if (++finished === count) { console.log(JSON.stringify({ answered })); process.exit(0); }
    });
  }
  setTimeout(() => { console.log(JSON.stringify({ answered, stalled: true })); process.exit(1); }, 30000).unref();
`;

test('with the JS thread blocked for 2 s under a connection flood, the event buffer stays near its mark', async () => {
  const MARK = 8 * 1024;
  const CONNECTIONS = 1000;
  const server = rhttpsHttp.createServer((req, res) => res.end('ok'));
  const native = server[kState].native;
  native.setEventHighWater(MARK);
  let largest = 0;
  const take = native.takeEventsInto.bind(native);
  native.takeEventsInto = (scratch) => {
    const taken = take(scratch);
    largest = Math.max(largest, typeof taken === 'number' ? taken : taken.length);
    return taken;
  };
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, resolve));
  try {
    const child = spawn(process.execPath, ['-e', FLOOD, String(server.address().port), String(CONNECTIONS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const started = new Promise((resolve) => child.stdout.on('data', (d) => { out += d; if (out.includes('started')) resolve(); }));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await within(started, 5000, 'the flood starting');
    const until = Date.now() + 2000;
    while (Date.now() < until) { /* the JS thread is blocked: no event is taken */ }
    const code = await within(exited, 40000, 'the flood finishing');
    const result = JSON.parse(out.trim().split('\n').pop());
    assert.strictEqual(code, 0, out);
    assert.strictEqual(result.answered, CONNECTIONS, 'every connection answered once the thread is free');
    // Without accept waiting for room, 1,000 OPEN events (over 40 KiB) arrive in one batch.
    assert.ok(largest < 2 * MARK, `largest batch ${largest} bytes, mark ${MARK}`);
  } finally {
    await close(server);
  }
});
