'use strict';
// Whole-process behaviour: what keeps the process alive, how it exits, and what a throwing
// handler does. Each case runs in its own child process.

const test = require('node:test');
const assert = require('node:assert/strict');
const { runScript, pki } = require('./helpers');

const prelude = (p) => `
  const rhttps = require('rhttps');
  const https = require('https');
  const opts = { key: ${JSON.stringify(p.leafKey.toString())}, cert: ${JSON.stringify(p.leafCert.toString())}, ca: ${JSON.stringify(p.intCert.toString())} };
  const ca = ${JSON.stringify(p.rootCert.toString())};
`;

test('a listening server keeps the process alive', async () => {
  const r = await runScript(`${prelude(pki())}
    rhttps.createServer(opts).listen(0, '127.0.0.1', () => console.log('up'));`, { timeoutMs: 1500 });
  assert.equal(r.signal, 'SIGKILL', 'still running when killed');
  assert.equal(r.stdout.trim(), 'up');
});

test('after close() the process exits promptly, even with an idle keep-alive client connected', async () => {
  const r = await runScript(`${prelude(pki())}
    const server = rhttps.createServer(opts, (req, res) => res.end('hi'));
    server.listen(0, '127.0.0.1', () => {
      const agent = new https.Agent({ keepAlive: true });
      https.get({ port: server.address().port, host: '127.0.0.1', servername: 'localhost', ca, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          // The client keeps its idle socket open: closing it is the server's job.
          server.close(() => console.log('closed'));
        });
      });
    });`, { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'closed');
  assert.ok(r.ms < 4000, `exited after ${r.ms} ms`);
});

test('unref() lets the process exit while listening', async () => {
  const r = await runScript(`${prelude(pki())}
    const s = rhttps.createServer(opts);
    s.listen(0, '127.0.0.1', () => { s.unref(); console.log('unrefed'); });`, { timeoutMs: 5000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'unrefed');
});

test('a handler that throws raises uncaughtException, as on node:https', async () => {
  const r = await runScript(`${prelude(pki())}
    const s = rhttps.createServer(opts, () => { throw new Error('handler boom'); });
    s.listen(0, '127.0.0.1', () => {
      https.get({ port: s.address().port, host: '127.0.0.1', servername: 'localhost', ca }).on('error', () => {});
    });`, { timeoutMs: 10000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Error: handler boom/);
});

test('with an uncaughtException handler, the server keeps serving after a throw', async () => {
  const r = await runScript(`${prelude(pki())}
    process.on('uncaughtException', (e) => console.log('caught', e.message));
    const s = rhttps.createServer(opts, (req, res) => {
      if (req.url === '/throw') throw new Error('boom');
      res.end('still up');
    });
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      const get = (path, cb) => https.get({ port, host: '127.0.0.1', servername: 'localhost', ca, path, agent: false }, cb).on('error', () => {});
      get('/throw', () => {});
      setTimeout(() => get('/ok', (res) => { res.setEncoding('utf8'); res.on('data', (d) => { console.log(d); process.exit(0); }); }), 200);
    });`, { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['caught boom', 'still up']);
});

test('regression: servers created and dropped without listening are garbage collected, while a listening one nobody references keeps serving', async () => {
  const run = await runScript(`
    require('v8').setFlagsFromString('--expose-gc');
    const gc = require('vm').runInNewContext('gc');
    const http = require('node:http');
    const rhttps = require('./index.js');
    const rhttp = require('./http.js');
    let collected = 0;
    const registry = new FinalizationRegistry(() => { collected++; });
    for (let i = 0; i < 100; i++) registry.register(i % 2 ? rhttp.createServer(() => {}) : rhttps.createServer(), i);
    // Listening, and no reference kept: libuv's handle keeps Node's alive, so must ours.
    rhttp.createServer((req, res) => res.end('alive')).listen(0, '127.0.0.1', async function () {
      const port = this.address().port;
      for (let i = 0; i < 5; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); }
      http.get({ port, host: '127.0.0.1' }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => { console.log(collected, body); process.exit(0); });
      });
    });
  `, { timeoutMs: 20000 });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), '100 alive');
});

// A served process prints the scheduling policy of its main thread and of each engine thread
// (`rhttps-io`), from field 41 of /proc/self/task/TID/stat (0 SCHED_OTHER, 3 SCHED_BATCH), as
// JSON once a request has been served (the engine's threads exist by then).
const policiesScript = (p) => `${prelude(p)}
  const fs = require('fs');
  const policy = (tid) => {
    const stat = fs.readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
  };
  const server = rhttps.createServer(opts, (req, res) => res.end('hi'));
  server.listen(0, '127.0.0.1', () => {
    https.get({ port: server.address().port, host: '127.0.0.1', servername: 'localhost', ca }, (res) => {
      res.resume();
      res.on('end', () => {
        const engine = [];
        for (const tid of fs.readdirSync('/proc/self/task')) {
          const name = fs.readFileSync('/proc/self/task/' + tid + '/comm', 'utf8').trim();
          if (name.startsWith('rhttps-io')) engine.push(policy(tid));
        }
        console.log(JSON.stringify({ main: policy(process.pid), engine }));
        server.close();
      });
    });
  });`;

test('the engine threads run as SCHED_BATCH, so a readable socket does not interrupt the JS thread; the JS thread keeps its policy', { skip: process.platform !== 'linux' }, async () => {
  const r = await runScript(policiesScript(pki()), { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  const { main, engine } = JSON.parse(r.stdout);
  assert.equal(main, 0);
  assert.ok(engine.length >= 1, 'found the engine threads');
  assert.deepEqual([...new Set(engine)], [3]);
});

test('RHTTPS_SCHED=normal leaves the engine threads on the default policy', { skip: process.platform !== 'linux' }, async () => {
  const r = await runScript(policiesScript(pki()), { timeoutMs: 10000, env: { RHTTPS_SCHED: 'normal' } });
  assert.equal(r.code, 0, r.stderr);
  const { engine } = JSON.parse(r.stdout);
  assert.ok(engine.length >= 1, 'found the engine threads');
  assert.deepEqual([...new Set(engine)], [0]);
});
