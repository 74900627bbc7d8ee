'use strict';
// `node bench/scale.js [--connections N] [--hold S] [--sources K] [--impls rhttps,node]`:
// the scale goal of the performance issue. Each server (pinned to core 0) is given N idle
// keep-alive TLS connections (handshake done, nothing sent) from clients on core 1 spread over
// K loopback source addresses (127.0.0.2, 127.0.0.3, …), holds them for S seconds while a
// fresh HTTPS request (a new connection, handshake included) is made every second, and
// reports its RSS growth per connection and overall, and the latency of those fresh requests
// beside the same request's with no idle connection open. The servers run one after the
// other. Run it as `taskset -c 1 node bench/scale.js`, so that this process's own TLS client
// stays off the server's core.
//
// The goal names 100,000 connections; a process here may hold at most the hard descriptor
// limit (`ulimit -Hn`), so the default is what that limit leaves room for, and the figures
// are given per connection as well.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const https = require('node:https');
const { spawn, execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const { option: opt, rssKiB } = require('./common');
const hardLimit = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim()) || 1024;
// The server needs a few descriptors of its own beyond the connections; so does each client.
const CONNECTIONS = Number(opt('connections', Math.min(100_000, hardLimit - 500)));
const HOLD_S = Number(opt('hold', 60));
const SOURCES = Number(opt('sources', 4));
const IMPLS = opt('impls', 'rhttps,node').split(',');
const PER_CLIENT = hardLimit - 200;

function certificates() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rhttps-scale-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ecdsa.key', '-out', 'ecdsa.crt', '-subj', '/CN=localhost', '-days', '2',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

function waitFor(child, pattern, what, ms) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms / 1000} s`)), ms);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what}: exited with ${code}`)); });
  });
}

// One fresh request on a new connection; its latency in ms.
function freshRequest(port, ca) {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername: 'localhost', ca, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
  });
}

async function measure(impl, certDir) {
  const server = spawn('taskset', ['-c', '0', process.execPath, path.join(__dirname, 'server.js'), impl, 'hello', certDir, 'ecdsa', 'h1'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const clients = [];
  try {
    const port = Number((await waitFor(server, /ready (\d+)/, `${impl} server`, 30_000))[1]);
    const ca = fs.readFileSync(path.join(certDir, 'ecdsa.crt'));
    await new Promise((r) => setTimeout(r, 1000));
    const idle = rssKiB(server.pid);
    // The same fresh request before any idle connection is open (the first ones warm this
    // process's own TLS client up): what the latency under load is compared with.
    const unloaded = [];
    for (let i = 0; i < 8; i++) unloaded.push(await freshRequest(port, ca));
    const unloadedMs = unloaded.slice(3).sort((a, b) => a - b)[2];
    const started = Date.now();
    for (let left = CONNECTIONS, i = 0; left > 0; i++) {
      const n = Math.min(left, PER_CLIENT);
      left -= n;
      // The holders share core 1 with this process's fresh requests. V8's memory reducer
      // would run a full GC of each holder's ~10,000 sockets about 8 s after they open
      // (incremental steps of up to 20 ms), which a fresh request made then waited behind.
      const client = spawn('taskset', ['-c', '1', process.execPath, '--no-memory-reducer', path.join(__dirname, 'idle-connections.js'), String(port), String(n), String(SOURCES)],
        { stdio: ['pipe', 'pipe', 'inherit'] });
      clients.push(client);
      await waitFor(client, /open/, `client ${i} (${n} connections)`, 600_000);
    }
    const openedS = (Date.now() - started) / 1000;
    const loaded = rssKiB(server.pid);
    const latencies = [];
    let peak = loaded;
    const until = Date.now() + HOLD_S * 1000;
    while (Date.now() < until) {
      latencies.push(await freshRequest(port, ca));
      peak = Math.max(peak, rssKiB(server.pid));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const end = rssKiB(server.pid);
    peak = Math.max(peak, end);
    latencies.sort((a, b) => a - b);
    const result = {
      impl,
      connections: CONNECTIONS,
      openedInS: openedS,
      idleMiB: idle / 1024,
      growthMiB: (peak - idle) / 1024,
      perConnKiB: (peak - idle) / CONNECTIONS,
      heldS: HOLD_S,
      freshRequests: latencies.length,
      freshP50Ms: latencies[Math.floor(latencies.length / 2)],
      freshMaxMs: latencies[latencies.length - 1],
      freshUnloadedMs: unloadedMs,
    };
    console.log(`  ${impl.padEnd(7)} ${CONNECTIONS} connections open in ${openedS.toFixed(1)} s; RSS ${result.idleMiB.toFixed(1)} → peak ${(peak / 1024).toFixed(1)} MiB `
      + `(+${result.growthMiB.toFixed(0)} MiB, ${result.perConnKiB.toFixed(1)} KiB each); ${latencies.length} fresh requests over ${HOLD_S} s: `
      + `p50 ${result.freshP50Ms.toFixed(1)} ms, max ${result.freshMaxMs.toFixed(1)} ms (${unloadedMs.toFixed(1)} ms with no idle connections)`);
    return result;
  } finally {
    for (const c of clients) {
      c.removeAllListeners('exit');
      c.stdin.end();
    }
    server.removeAllListeners('exit');
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function main() {
  console.log(`scale: ${CONNECTIONS} idle TLS connections per server (descriptor hard limit ${hardLimit}), from ${SOURCES} source addresses, held ${HOLD_S} s`);
  const certDir = certificates();
  const results = [];
  for (const impl of IMPLS) results.push(await measure(impl, certDir));
  const goalGrowthMiB = (800 * CONNECTIONS) / 100_000;
  console.log('\n| server | connections | RSS growth MiB | KiB per connection | fresh request p50 ms | max ms | without idle connections ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.impl} | ${r.connections} | ${r.growthMiB.toFixed(0)} | ${r.perConnKiB.toFixed(1)} | ${r.freshP50Ms.toFixed(1)} | ${r.freshMaxMs.toFixed(1)} | ${r.freshUnloadedMs.toFixed(1)} |`);
  }
  console.log(`\ngoal, scaled to ${CONNECTIONS} connections: RSS growth ≤ ${goalGrowthMiB.toFixed(0)} MiB (800 MiB per 100,000) and every fresh request within 10 ms`);
  const out = path.join(__dirname, 'results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ hardLimit, sources: SOURCES, results }, null, 2));
  console.log(`raw results: ${path.relative(ROOT, out)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
