'use strict';
// `npm run bench`: rhttps, node:https and a pure-Rust server (tokio + hyper + rustls, the
// crate in bench/reference-server) side by side in one run, with `--peers` Bun's and Deno's
// runtimes as well. Each server is pinned to core 0 and the load generator to core 1; runs
// alternate between the servers; medians are reported with ratios against node:https and
// against the pure-Rust server. Server CPU per operation comes from /proc/<pid>/stat (user +
// system time of all threads), steadier on a shared machine than requests per second; the JS
// (main) thread's share from /proc/<pid>/task/<pid>/stat, the part more cores cannot add to.
//
// Options: --only a,b (scenario names), --runs N (5), --duration S (5), --connections C
// (keep-alive scenarios, 64), --peers (also Bun and Deno, installed from npm into a scratch
// folder), --no-build (measure the binaries that are there; rhttps's must still be a release
// build).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync, execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const { option: opt, flag, rssKiB, ecdsaCertificateDir } = require('./common');
const RUNS = Number(opt('runs', 5));
const DURATION = Number(opt('duration', 5));
const CONNECTIONS = Number(opt('connections', 64));
const ONLY = opt('only', null);
const PEERS = flag('peers');
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const REFERENCE_BIN = path.join(ROOT, 'target', 'release', 'rhttps-reference-server');
// Pinned so that a run next month measures the same peers.
const PEER_PACKAGES = { bun: '@oven/bun-linux-x64@1.4.5', deno: '@deno/linux-x64-glibc@2.9.6' };
const PEER_DIR = path.join(os.tmpdir(), 'rhttps-bench-peers');
const BUN = path.join(PEER_DIR, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
const DENO = path.join(PEER_DIR, 'node_modules', '@deno', 'linux-x64-glibc', 'deno');

// What each scenario runs and how its operations are counted.
const SCENARIOS = [
  { name: 'hello', title: `keep-alive hello world (${CONNECTIONS} connections)`, handler: 'hello', load: wrk({}), unit: 'request' },
  { name: 'hello-1', title: 'keep-alive hello world (1 connection)', handler: 'hello', load: wrk({ connections: 1 }), unit: 'request' },
  { name: 'express', title: `Express hello world (${CONNECTIONS} connections)`, handler: 'express', load: wrk({}), unit: 'request' },
  { name: 'handshake-ecdsa', title: 'full TLS handshake, ECDSA P-256', handler: 'hello', key: 'ecdsa', load: handshakes, unit: 'handshake' },
  { name: 'handshake-rsa', title: 'full TLS handshake, RSA-2048', handler: 'hello', key: 'rsa', load: handshakes, unit: 'handshake' },
  { name: 'get-1mib', title: 'GET 1 MiB (8 connections)', handler: 'bytes', load: wrk({ connections: 8 }), unit: 'MiB' },
  { name: 'post-1mib', title: 'POST 1 MiB echoed (8 connections)', handler: 'echo', load: wrk({ connections: 8, script: 'post-1mib.lua' }), unit: 'request' },
  // The reference for HTTP/2 is node:http2's createSecureServer with the same plain handler.
  { name: 'h2', title: 'HTTP/2 hello world (h2load -c16 -m16)', handler: 'hello', protocol: 'h2', load: h2load, unit: 'request' },
];

// The servers measured. `serves` leaves out what one cannot run: the Rust server and the
// runtimes' own servers have no Express, Bun's node:https no HTTP/2 here.
const FETCH_HANDLERS = ['hello', 'bytes', 'echo'];
const serverArgs = (impl, sc, certDir) => [path.join(__dirname, 'server.js'), impl, sc.handler, certDir, sc.key || 'ecdsa', sc.protocol || 'h1'];
const IMPLS = [
  { name: 'rhttps', label: () => 'rhttps', serves: () => true,
    command: (sc, certDir) => [process.execPath, serverArgs('rhttps', sc, certDir)] },
  { name: 'node', label: (sc) => (sc.protocol === 'h2' ? 'node:http2' : 'node:https'), serves: () => true,
    command: (sc, certDir) => [process.execPath, serverArgs('node', sc, certDir)] },
  // Its main thread only waits for the runtime; there is no JS thread to measure.
  { name: 'rust', label: () => 'tokio+hyper+rustls', noMainThread: true, serves: (sc) => FETCH_HANDLERS.includes(sc.handler),
    command: (sc, certDir) => [REFERENCE_BIN, [sc.handler, certDir, sc.key || 'ecdsa', sc.protocol || 'h1']] },
  { name: 'bun-node', peer: true, label: () => 'Bun node:https', serves: (sc) => sc.protocol !== 'h2',
    command: (sc, certDir) => [BUN, serverArgs('node', sc, certDir)] },
  { name: 'bun', peer: true, label: () => 'Bun.serve', serves: (sc) => sc.protocol !== 'h2' && FETCH_HANDLERS.includes(sc.handler),
    command: (sc, certDir) => [BUN, [path.join(__dirname, 'peer-server.js'), 'bun', sc.handler, certDir, sc.key || 'ecdsa']] },
  { name: 'deno', peer: true, label: () => 'Deno.serve', serves: (sc) => FETCH_HANDLERS.includes(sc.handler),
    command: (sc, certDir) => [DENO, ['run', '-A', '--quiet', path.join(__dirname, 'peer-server.js'), 'deno', sc.handler, certDir, sc.key || 'ecdsa']] },
].filter((impl) => PEERS || !impl.peer);

function requireTool(name, hint) {
  if (spawnSync('sh', ['-c', `command -v ${name}`]).status !== 0) {
    console.error(`bench needs ${name}: ${hint}`);
    process.exit(2);
  }
}

function build() {
  if (!flag('no-build')) {
    console.log('building the release binary (npm run build) and the pure-Rust reference server ...');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('cargo', ['build', '--release', '--quiet', '-p', 'rhttps-reference-server'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const profile = require('../native.js').buildProfile();
  if (profile !== 'release') {
    console.error(`the loaded binary is a ${profile} build; run \`npm run build\` (release) first`);
    process.exit(2);
  }
  if (!fs.existsSync(REFERENCE_BIN)) {
    console.error(`no ${path.relative(ROOT, REFERENCE_BIN)}; run \`cargo build --release -p rhttps-reference-server\``);
    process.exit(2);
  }
}

// Bun's and Deno's runtimes ship as npm packages; they go to a scratch folder, never into the
// project's node_modules.
function installPeers() {
  if (!PEERS || (fs.existsSync(BUN) && fs.existsSync(DENO))) return;
  console.log(`installing ${Object.values(PEER_PACKAGES).join(' and ')} into ${PEER_DIR} ...`);
  fs.mkdirSync(PEER_DIR, { recursive: true });
  execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--prefix', PEER_DIR, ...Object.values(PEER_PACKAGES)], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function certificates() {
  const dir = ecdsaCertificateDir('rhttps-bench-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.crt',
    '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

function startServer(impl, scenario, certDir) {
  const [cmd, argv] = impl.command(scenario, certDir);
  const child = spawn('taskset', ['-c', SERVER_CPU, cmd, ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${impl.name} server did not start in 30 s`)); }, 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/ready (\d+)(?: startup-cpu-ms ([\d.]+))?\r?\n/);
      if (m) {
        clearTimeout(timer);
        const startupMs = m[2] === undefined ? NaN : Number(m[2]);
        resolve({ impl: impl.name, noMainThread: Boolean(impl.noMainThread), child, port: Number(m[1]), startupMs });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${impl.name} server exited with ${code}`)); });
  });
}

function stopServer(server) {
  server.child.removeAllListeners('exit');
  server.child.kill('SIGTERM');
}

// utime + stime of the whole process (all threads), in microseconds.
function cpuMicros(pid) {
  return statMicros(`/proc/${pid}/stat`);
}

// The same for the main thread alone (its thread id is the process id): the JS thread, which
// a multi-core machine cannot add more of to one server.
function mainThreadMicros(pid) {
  return statMicros(`/proc/${pid}/task/${pid}/stat`);
}

function statMicros(file) {
  const stat = fs.readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

// wrk's latency percentiles ("50%  812.00us") in microseconds.
function wrkPercentile(out, p) {
  const m = out.match(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm'));
  if (!m) return NaN;
  return Number(m[1]) * { us: 1, ms: 1e3, s: 1e6 }[m[2]];
}

// wrk with keep-alive connections; counts requests (each one MiB in the 1 MiB scenarios).
function wrk({ connections = CONNECTIONS, script }) {
  return (port, seconds) => {
    const argv = ['-c', LOAD_CPU, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
    if (script) argv.push('-s', path.join(__dirname, script));
    argv.push(`https://127.0.0.1:${port}/`);
    const out = execFileSync('taskset', argv).toString();
    const requests = Number((out.match(/(\d+) requests in/) || [])[1]);
    const errors = out.match(/Non-2xx or 3xx responses: (\d+)|Socket errors: .*/g);
    if (!requests) throw new Error(`wrk produced no result:\n${out}`);
    return { ops: requests, p50: wrkPercentile(out, 50), p99: wrkPercentile(out, 99), warning: errors && errors.join('; ') };
  };
}

// h2load: 16 connections with 16 concurrent streams each, for `seconds`.
function h2load(port, seconds) {
  const out = execFileSync('taskset', ['-c', LOAD_CPU, 'h2load', '-c16', '-m16', '-t1', '-D', String(seconds),
    `https://127.0.0.1:${port}/`]).toString();
  const m = out.match(/requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/);
  if (!m || !Number(m[1])) throw new Error(`h2load produced no result:\n${out}`);
  const protocol = (out.match(/Application protocol: (\S+)/) || [])[1];
  if (protocol !== 'h2') throw new Error(`h2load did not negotiate h2 (${protocol}):\n${out}`);
  return { ops: Number(m[1]), p50: NaN, p99: NaN, warning: Number(m[2]) ? `${m[2]} failed` : null };
}

function handshakes(port, seconds) {
  const out = execFileSync('taskset', ['-c', LOAD_CPU, process.execPath, path.join(__dirname, 'handshakes.js'), String(port), String(seconds), '16']).toString();
  const r = JSON.parse(out);
  if (!r.handshakes) throw new Error(`no handshake completed: ${out}`);
  return { ops: r.handshakes, p50: NaN, p99: NaN, warning: r.failed ? `${r.failed} failed or resumed` : null };
}

function measure(server, scenario, seconds) {
  const pid = server.child.pid;
  const before = cpuMicros(pid);
  const mainBefore = mainThreadMicros(pid);
  const t0 = process.hrtime.bigint();
  const r = scenario.load(server.port, seconds, scenario);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuMicros(pid) - before;
  const main = mainThreadMicros(pid) - mainBefore;
  if (r.warning) console.log(`  warning (${server.impl}): ${r.warning}`);
  const mainPerOp = server.noMainThread ? NaN : main / r.ops;
  return { rate: r.ops / elapsed, cpuPerOp: cpu / r.ops, mainPerOp, p50: r.p50, p99: r.p99 };
}

const median = (xs) => {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function runScenario(scenario, certDir) {
  const impls = IMPLS.filter((impl) => impl.serves(scenario));
  const servers = [];
  const results = {};
  try {
    for (const impl of impls) {
      servers.push(await startServer(impl, scenario, certDir));
      results[impl.name] = [];
    }
    for (const s of servers) measure(s, scenario, 1); // warm-up (JIT, caches)
    for (let run = 0; run < RUNS; run++) {
      // Each run starts one server later than the last, so no server is always first.
      const order = servers.map((_, i) => servers[(i + run) % servers.length]);
      for (const s of order) {
        const m = measure(s, scenario, DURATION);
        results[s.impl].push(m);
        const latency = Number.isNaN(m.p50) ? '' : `, p50 ${m.p50.toFixed(0)} µs p99 ${m.p99.toFixed(0)} µs`;
        const main = Number.isNaN(m.mainPerOp) ? '' : ` (main thread ${m.mainPerOp.toFixed(1)})`;
        console.log(`  run ${run + 1} ${s.impl.padEnd(8)} ${m.rate.toFixed(0).padStart(8)} ${scenario.unit}/s  ${m.cpuPerOp.toFixed(1).padStart(8)} µs CPU/${scenario.unit}${main}${latency}`);
      }
    }
  } finally {
    servers.forEach(stopServer);
  }
  const summary = {};
  for (const impl of impls) {
    const rs = results[impl.name];
    summary[impl.name] = { label: impl.label(scenario) };
    for (const key of ['rate', 'cpuPerOp', 'mainPerOp', 'p50', 'p99']) summary[impl.name][key] = median(rs.map((r) => r[key]));
  }
  return { name: scenario.name, title: scenario.title, unit: scenario.unit, summary, runs: results };
}

// RSS of an idle server, and what 1,000 idle TLS connections add per connection.
async function runMemory(certDir) {
  const scenario = { handler: 'hello' };
  const impls = IMPLS.filter((impl) => impl.serves(scenario));
  const samples = Object.fromEntries(impls.map((impl) => [impl.name, []]));
  for (let run = 0; run < Math.max(3, Math.ceil(RUNS / 2)); run++) {
    for (const impl of impls.map((_, i) => impls[(i + run) % impls.length])) {
      const s = await startServer(impl, scenario, certDir);
      try {
        await new Promise((r) => setTimeout(r, 1000));
        const idle = rssKiB(s.child.pid);
        const client = spawn('taskset', ['-c', LOAD_CPU, process.execPath, path.join(__dirname, 'idle-connections.js'), String(s.port), '1000'],
          { stdio: ['pipe', 'pipe', 'inherit'] });
        await new Promise((resolve, reject) => {
          client.stdout.on('data', (d) => { if (String(d).includes('open')) resolve(); });
          client.on('exit', (code) => reject(new Error(`idle client exited ${code}`)));
        });
        await new Promise((r) => setTimeout(r, 1000));
        const loaded = rssKiB(s.child.pid);
        client.removeAllListeners('exit');
        client.stdin.end();
        samples[impl.name].push({ idleMiB: idle / 1024, perConnKiB: (loaded - idle) / 1000, startupMs: s.startupMs });
        const startup = Number.isNaN(s.startupMs) ? '' : `, ${s.startupMs.toFixed(1)} ms CPU to start listening`;
        console.log(`  run ${run + 1} ${impl.name.padEnd(8)} idle RSS ${(idle / 1024).toFixed(1)} MiB, +${((loaded - idle) / 1000).toFixed(1)} KiB per idle TLS connection${startup}`);
      } finally {
        stopServer(s);
      }
    }
  }
  const summary = {};
  for (const impl of impls) {
    summary[impl.name] = { label: impl.label(scenario) };
    for (const key of ['idleMiB', 'perConnKiB', 'startupMs']) summary[impl.name][key] = median(samples[impl.name].map((x) => x[key]));
  }
  return summary;
}

// One markdown table: a row per workload and figure, a column per server, and rhttps's ratio
// to node:https (or node:http2) and to the pure-Rust server.
function printTable(all, memory) {
  const names = IMPLS.map((impl) => impl.name);
  const header = IMPLS.map((impl) => (impl.name === 'node' ? 'node:https (node:http2 for h2)' : impl.label({})));
  console.log(`| workload | ${header.join(' | ')} | rhttps vs node | rhttps vs Rust |`);
  console.log(`|---|${names.map(() => '---:').join('|')}|---:|---:|`);
  const fmt = (x, digits = 1) => (x === undefined || Number.isNaN(x) ? '' : x.toFixed(digits));
  const row = (title, figures, key, digits, lowerIsBetter) => {
    const cells = names.map((n) => fmt(figures[n] && figures[n][key], digits));
    const ratio = (other) => {
      const a = figures.rhttps && figures.rhttps[key];
      const b = figures[other] && figures[other][key];
      if (!a || !b || Number.isNaN(a) || Number.isNaN(b)) return '';
      return `${(a / b).toFixed(2)}×${lowerIsBetter ? (a <= b ? ' ✓' : '') : (a >= b ? ' ✓' : '')}`;
    };
    console.log(`| ${title} | ${cells.join(' | ')} | ${ratio('node')} | ${ratio('rust')} |`);
  };
  for (const r of all) {
    row(`${r.title}: server CPU µs/${r.unit}`, r.summary, 'cpuPerOp', 1, true);
    row(`${r.title}: ${r.unit}s/s`, r.summary, 'rate', 0, false);
    if (r.unit === 'request') row(`${r.title}: main (JS) thread CPU µs/${r.unit}`, r.summary, 'mainPerOp', 1, true);
    if (Object.values(r.summary).some((s) => !Number.isNaN(s.p50))) {
      row(`${r.title}: p50 latency µs`, r.summary, 'p50', 0, true);
      row(`${r.title}: p99 latency µs`, r.summary, 'p99', 0, true);
    }
  }
  if (memory) {
    row('idle process RSS, MiB', memory, 'idleMiB', 1, true);
    row('memory per idle TLS connection, KiB', memory, 'perConnKiB', 1, true);
    row('start-up to listening (Node, the module, createServer), CPU ms', memory, 'startupMs', 1, true);
  }
  console.log('\nratios are rhttps ÷ the other server (✓: rhttps is at or past it); CPU, latency and memory: lower is better');
}

async function main() {
  requireTool('wrk', 'apt-get install wrk');
  requireTool('taskset', 'apt-get install util-linux');
  requireTool('openssl', 'apt-get install openssl');
  if (!ONLY || ONLY.split(',').includes('h2')) requireTool('h2load', 'apt-get install nghttp2-client');
  build();
  installPeers();
  const certDir = certificates();
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0].model}), Node ${process.version}`);
  console.log(`servers (${IMPLS.map((i) => i.name).join(', ')}) on core ${SERVER_CPU}, load on core ${LOAD_CPU}; ${RUNS} interleaved runs of ${DURATION} s\n`);
  const wanted = ONLY ? ONLY.split(',') : null;
  const all = [];
  for (const scenario of SCENARIOS) {
    if (wanted && !wanted.includes(scenario.name)) continue;
    console.log(`scenario: ${scenario.title}`);
    all.push(await runScenario(scenario, certDir));
    console.log('');
  }
  let memory = null;
  if (!wanted || wanted.includes('memory')) {
    console.log('scenario: memory (idle RSS, 1,000 idle TLS connections)');
    memory = await runMemory(certDir);
    console.log('');
  }
  printTable(all, memory);
  const outDir = path.join(__dirname, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ node: process.version, runs: RUNS, duration: DURATION, connections: CONNECTIONS, impls: IMPLS.map((i) => i.name), results: all, memory }, null, 2));
  console.log(`\nraw results: ${path.relative(ROOT, file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
