'use strict';
// `npm run soak`: minutes of mixed load against one server in a child process — keep-alive
// requests, new connections, uploads, clients that abort mid-body and mid-response — sampling
// the server's RSS and open descriptors every 5 s. It reports the drift between the second and
// the last quarter of the run (the first quarter is warm-up); the goal is under 5 %.
//
// Options: --minutes N (10), --impl rhttps|node (rhttps). Traffic goes to 127.0.0.1 only, and
// every loop ends at the deadline.

const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { pki } = require('../__test__/helpers');

const { option: opt, rssKiB } = require('./common');
const MINUTES = Number(opt('minutes', 10));
const IMPL = opt('impl', 'rhttps');
const SAMPLE_MS = 5000;

const SERVER = `
  const options = ${JSON.stringify({ key: pki().leafKey.toString(), cert: pki().leafCert.toString(), ca: pki().intCert.toString() })};
  const createServer = ${IMPL === 'node' ? "require('node:https').createServer" : `require(${JSON.stringify(path.resolve(__dirname, '..'))}).createServer`};
  const big = Buffer.alloc(256 * 1024, 98);
  const server = createServer(options, (req, res) => {
    if (req.url === '/big') return res.end(big);
    let n = 0;
    req.on('data', (d) => { n += d.length; });
    req.on('end', () => res.end(String(n)));
  });
  server.on('clientError', (err, socket) => socket.destroy());
  server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

function sampleOf(pid) {
  return { rssMiB: rssKiB(pid) / 1024, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

function once(port, { method = 'GET', path: p = '/', body, agent, abortAfter }) {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert, method, path: p, agent }, (res) => {
      res.on('data', () => { if (abortAfter === 'response') req.destroy(); });
      res.on('end', () => resolve(true));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    if (abortAfter === 'body') {
      req.write(Buffer.alloc(64 * 1024));
      setTimeout(() => req.destroy(), 5);
    } else {
      req.end(body);
    }
  });
}

async function loop(deadline, count, work) {
  while (Date.now() < deadline) {
    if (await work()) count.done++;
    else count.failed++;
  }
}

async function main() {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => child.stdout.on('data', (d) => {
    const m = String(d).match(/port (\d+)/);
    if (m) resolve(Number(m[1]));
  }));
  const deadline = Date.now() + MINUTES * 60_000;
  const count = { done: 0, failed: 0 };
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 16 });
  const upload = Buffer.alloc(256 * 1024, 117);
  const workers = [
    ...Array.from({ length: 8 }, () => loop(deadline, count, () => once(port, { agent: keepAlive }))),
    ...Array.from({ length: 2 }, () => loop(deadline, count, () => once(port, { agent: false }))),
    ...Array.from({ length: 2 }, () => loop(deadline, count, () => once(port, { method: 'POST', body: upload, agent: keepAlive }))),
    loop(deadline, count, async () => { await once(port, { method: 'POST', agent: false, abortAfter: 'body' }); return true; }),
    loop(deadline, count, async () => { await once(port, { path: '/big', agent: false, abortAfter: 'response' }); return true; }),
  ];
  const samples = [];
  console.log(`soak: ${IMPL}, ${MINUTES} min, a sample every ${SAMPLE_MS / 1000} s`);
  console.log('   t(s)   RSS MiB   fds   requests');
  const started = Date.now();
  const timer = setInterval(() => {
    const s = { t: (Date.now() - started) / 1000, ...sampleOf(child.pid), requests: count.done };
    samples.push(s);
    console.log(`${s.t.toFixed(0).padStart(7)} ${s.rssMiB.toFixed(1).padStart(9)} ${String(s.fds).padStart(5)} ${String(s.requests).padStart(10)}`);
  }, SAMPLE_MS);
  await Promise.all(workers);
  clearInterval(timer);
  keepAlive.destroy();
  child.kill();
  console.log(`\nrequests: ${count.done} done, ${count.failed} failed (aborted clients count as done)`);
  if (samples.length < 8) {
    console.log('too short to compare quarters: run at least 40 s (--minutes 1 or more)');
    return;
  }
  const q = Math.floor(samples.length / 4);
  const median = (list, key) => {
    const v = list.map((s) => s[key]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const second = samples.slice(q, 2 * q);
  const last = samples.slice(3 * q);
  const drift = (key) => ((median(last, key) - median(second, key)) / median(second, key)) * 100;
  console.log(`RSS: second quarter ${median(second, 'rssMiB').toFixed(1)} MiB, last quarter ${median(last, 'rssMiB').toFixed(1)} MiB, drift ${drift('rssMiB').toFixed(1)} %`);
  console.log(`descriptors: second quarter ${median(second, 'fds')}, last quarter ${median(last, 'fds')}, drift ${drift('fds').toFixed(1)} %`);
  console.log(`goal: drift under 5 %: ${Math.abs(drift('rssMiB')) < 5 && Math.abs(drift('fds')) < 5 ? 'met' : 'NOT met'}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
