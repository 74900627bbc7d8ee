'use strict';
// Clients that stall, trickle, stop reading, reset, or offer more than the handler can take.
// Every load is bounded in count and time and goes to 127.0.0.1 only; each check also proves
// that a fresh request is still answered.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const { spawn } = require('node:child_process');
const rhttps = require('../..');
const rhttpsHttp = require('../../http');
const { pki, listen, close, request, rawHttpGet, within } = require('../helpers');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssMiB = () => process.memoryUsage.rss() / 1024 / 1024;

test('handshakeTimeout 2 s closes 300 silent and 300 partial-record connections between 2 and 4 s; fresh GETs succeed meanwhile', async () => {
  const server = rhttps.createServer({ ...pki().serverOptions, handshakeTimeout: 2000 }, (req, res) => res.end('fresh'));
  server.on('tlsClientError', () => {});
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const started = Date.now();
    const closedAfter = [];
    const all = [];
    for (let i = 0; i < 600; i++) {
      all.push(new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          // Half of them send the first bytes of a TLS record and stop.
          if (i % 2) s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
        });
        s.on('error', () => {});
        s.on('close', () => { closedAfter.push(Date.now() - started); resolve(); });
      }));
    }
    await sleep(500);
    for (let i = 0; i < 3; i++) {
      const r = await within(request(port, { path: '/fresh' }), 2000, 'a fresh GET during the stall');
      assert.equal(r.body.toString(), 'fresh');
    }
    await within(Promise.all(all), 8000, 'every stalled connection closed');
    const early = closedAfter.filter((ms) => ms < 1900);
    const late = closedAfter.filter((ms) => ms > 4000);
    assert.deepEqual([early.length, late.length], [0, 0], `closed at ${Math.min(...closedAfter)}..${Math.max(...closedAfter)} ms`);
  } finally {
    await close(server);
  }
});

test('slowloris, slow body and a slow reader are closed on time (408 where Node sends it) while fresh GETs succeed', async () => {
  const big = Buffer.alloc(16 * 1024 * 1024, 97);
  const server = rhttpsHttp.createServer({ headersTimeout: 1000, requestTimeout: 2000 }, (req, res) => {
    if (req.url === '/big') res.end(big);
    else { req.resume(); req.on('end', () => res.end('fresh')); }
  });
  // The slow reader is cut by the socket timeout, as on Node (no request timeout covers it).
  server.setTimeout(1500);
  const port = await listen(server, 0, '127.0.0.1');
  const rssBefore = rssMiB();
  try {
    // Sends `first` at once, then `rest` one byte every `every` ms.
    const trickle = (first, rest, every) => new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(first));
      let i = 0;
      let text = '';
      const timer = setInterval(() => { if (i < rest.length) s.write(rest[i++]); }, every);
      s.on('data', (d) => { text += d; });
      s.on('error', () => {});
      s.on('close', () => { clearInterval(timer); resolve({ text }); });
    });
    const slowloris = trickle('GET / HTTP/1.1\r\n', 'Host: x\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n', 100);
    const slowBody = trickle('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n', 'b'.repeat(200), 50);
    // A paused client never sees the server close; what counts is that the server lets go.
    const readerClosed = new Promise((resolve) => server.on('request', (req) => {
      if (req.url === '/big') req.socket.on('close', resolve);
    }));
    const reader = net.connect(port, '127.0.0.1', () => { reader.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'); reader.pause(); });
    reader.on('error', () => {});
    await sleep(300);
    assert.match(await within(rawHttpGet(port, '/fresh'), 2000, 'a fresh GET'), /^HTTP\/1\.1 200/);
    const [loris, body] = await within(Promise.all([slowloris, slowBody]), 6000, 'the trickling clients closed');
    assert.match(loris.text, /^HTTP\/1\.1 408 Request Timeout/, 'slowloris: headersTimeout');
    assert.match(body.text, /^HTTP\/1\.1 408 Request Timeout/, 'slow body: requestTimeout');
    await within(readerClosed, 4000, "the slow reader's socket timing out");
    await within((async () => {
      while ((await new Promise((r) => server.getConnections((e, n) => r(n)))) > 0) await sleep(20);
    })(), 3000, 'the engine closing the slow reader');
    reader.destroy();
    assert.ok(rssMiB() - rssBefore < 100, 'memory stays bounded');
  } finally {
    await close(server);
  }
});

// The server runs in a child process, so its descriptors and memory are its own (the 1,000
// TLS clients would dominate this process's).
const RESET_SERVER = () => `
  const options = ${JSON.stringify({ key: pki().leafKey.toString(), cert: pki().leafCert.toString(), ca: pki().intCert.toString() })};
  const big = Buffer.alloc(1024 * 1024, 99);
  const server = require(${JSON.stringify(require.resolve('../..'))}).createServer(options, (req, res) => {
    if (req.url === '/big') res.end(big);
    else { req.resume(); req.on('end', () => res.end('ok')); }
  });
  server.on('clientError', (err, socket) => socket.destroy());
  server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
  process.on('message', () => server.getConnections((e, n) => process.send(n)));
`;

test('1,000 clients that reset mid-head, mid-body and mid-response leave descriptors and memory where they were', async () => {
  const child = spawn(process.execPath, ['-e', RESET_SERVER()], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const status = (field) => Number(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+)`))[1]);
  const fds = () => fs.readdirSync(`/proc/${child.pid}/fd`).length;
  const connections = () => new Promise((resolve) => { child.once('message', resolve); child.send('count'); });
  try {
    const port = await within(new Promise((resolve) => child.stdout.on('data', (d) => {
      const m = String(d).match(/port (\d+)/);
      if (m) resolve(Number(m[1]));
    })), 10000, 'the server listening');
    await request(port, { path: '/warm' });
    const fdsBefore = fds();
    let rssWarm = 0;
    const shapes = [
      (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\nX-Partial: yes'),
      (s) => s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial body'),
      (s) => s.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'),
    ];
    for (let batch = 0; batch < 10; batch++) {
      await within(Promise.all(Array.from({ length: 100 }, (_, i) => new Promise((resolve) => {
        // A TCP RST needs the TCP socket under the TLS one.
        const raw = net.connect(port, '127.0.0.1');
        const s = tls.connect({ socket: raw, servername: 'localhost', ca: pki().rootCert }, () => {
          shapes[i % 3](s);
          // Mid-response: reset once the first bytes arrive; otherwise shortly after writing.
          if (i % 3 === 2) s.once('data', () => raw.resetAndDestroy());
          else setTimeout(() => raw.resetAndDestroy(), 20);
        });
        raw.on('error', () => {});
        s.on('error', () => {});
        s.on('close', resolve);
      }))), 20000, `batch ${batch + 1} of 100 resetting clients`);
      // The first half warms the allocators; the second half must not grow memory further.
      if (batch === 4) rssWarm = status('VmRSS');
    }
    await within((async () => { while (await connections() > 0) await sleep(20); })(), 10000,
      'the server letting go of every reset connection');
    assert.ok(fds() - fdsBefore <= 2, `descriptors: ${fdsBefore} before, ${fds()} after`);
    const grownKiB = status('VmRSS') - rssWarm;
    assert.ok(grownKiB < 16 * 1024, `RSS grew ${(grownKiB / 1024).toFixed(1)} MiB over the last 500 clients`);
    const r = await within(request(port, { path: '/after' }), 2000, 'a request after the resets');
    assert.equal(r.body.toString(), 'ok');
  } finally {
    child.kill();
    await within(exited, 5000, 'the server exiting');
  }
});

test('a handler slower than the offered load: memory stays bounded and a fresh request is served within 100 ms after the load', async () => {
  const server = rhttpsHttp.createServer((req, res) => {
    const until = Date.now() + 2;
    while (Date.now() < until) { /* a handler that costs 2 ms of CPU */ }
    res.end('done');
  });
  const port = await listen(server, 0, '127.0.0.1');
  const rssBefore = rssMiB();
  try {
    const clients = [];
    let stop = false;
    for (let i = 0; i < 200; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      // Each client keeps 8 pipelined requests in flight: more than the handler can answer.
      const send = () => { if (!stop) s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(8)); };
      s.on('connect', send);
      s.on('data', send);
      clients.push(s);
    }
    await sleep(3000);
    stop = true;
    for (const s of clients) s.destroy();
    assert.ok(rssMiB() - rssBefore < 150, `RSS grew ${(rssMiB() - rssBefore).toFixed(1)} MiB under overload`);
    await within((async () => {
      while ((await new Promise((r) => server.getConnections((e, n) => r(n)))) > 0) await sleep(10);
    })(), 10000, 'the overloaded connections closing');
    const started = Date.now();
    const text = await within(rawHttpGet(port, '/fresh'), 2000, 'a fresh request');
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.ok(Date.now() - started < 100, `served after ${Date.now() - started} ms`);
  } finally {
    await close(server);
  }
});
