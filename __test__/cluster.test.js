'use strict';
// Several cores: cluster workers (or any processes) bind the same port with SO_REUSEPORT and
// the kernel spreads connections among them; each worker runs its own JS thread.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const rhttps = require('..');
const { ROOT, pki, listen, close, runScript, request, tempDir } = require('./helpers');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('cluster workers listening on one port all serve requests', async () => {
  const port = await freePort();
  const source = `
    const cluster = require('node:cluster');
    const https = require('node:https');
    const rhttps = require(${JSON.stringify(ROOT)});
    const port = ${port};
    if (cluster.isPrimary) {
      cluster.setupPrimary({ exec: __filename });
      // One certificate for all: every worker serves the same site.
      const { key, cert } = rhttps.createSelfSignedCertificate();
      let ready = 0;
      const workers = [cluster.fork({ KEY: key, CERT: cert }), cluster.fork({ KEY: key, CERT: cert })];
      for (const w of workers) w.on('message', async (m) => {
        if (m !== 'listening' || ++ready < workers.length) return;
        const pids = {};
        for (let i = 0; i < 40; i++) {
          const pid = await new Promise((resolve, reject) => {
            https.get({ host: '127.0.0.1', port, servername: 'localhost', ca: cert, agent: false }, (res) => {
              let b = '';
              res.on('data', (d) => { b += d; });
              res.on('end', () => resolve(b));
            }).on('error', reject);
          });
          pids[pid] = (pids[pid] || 0) + 1;
        }
        console.log(JSON.stringify({ pids, workers: workers.map((x) => String(x.process.pid)) }));
        for (const x of workers) x.kill();
      });
    } else {
      rhttps.createServer({ key: process.env.KEY, cert: process.env.CERT }, (req, res) => res.end(String(process.pid)))
        .listen(port, '127.0.0.1', () => process.send('listening'));
    }`;
  const file = path.join(tempDir('cluster'), 'cluster.js');
  fs.writeFileSync(file, source);
  const run = await runScript(`require(${JSON.stringify(file)})`, { timeoutMs: 30000 });
  assert.equal(run.code, 0, run.stderr);
  const { pids, workers } = JSON.parse(run.stdout.trim().split('\n').pop());
  assert.deepEqual(Object.keys(pids).sort(), [...workers].sort(), `both workers served: ${JSON.stringify(pids)}`);
  assert.equal(Object.values(pids).reduce((a, b) => a + b, 0), 40);
});

test('reusePort lets two servers share a port; without it the second gets EADDRINUSE', async () => {
  const options = pki().serverOptions;
  const a = rhttps.createServer(options, (req, res) => res.end('a'));
  const b = rhttps.createServer(options, (req, res) => res.end('b'));
  const c = rhttps.createServer(options);
  const port = await listen(a, { port: 0, host: '127.0.0.1', reusePort: true });
  try {
    await listen(b, { port, host: '127.0.0.1', reusePort: true });
    await assert.rejects(listen(c, { port, host: '127.0.0.1' }), { code: 'EADDRINUSE' });
    const seen = new Set();
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await request(port)).body.toString());
    assert.deepEqual([...seen].sort(), ['a', 'b']);
  } finally {
    await close(a);
    await close(b);
  }
});
