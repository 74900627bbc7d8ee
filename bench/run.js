'use strict';
// `npm run bench`: rhttps and node:https side by side in one run. Each server is pinned to
// core 0 and the load generator to core 1; runs alternate between the two servers; medians
// are reported with ratios. Server CPU per operation comes from /proc/<pid>/stat (user +
// system time of all threads), steadier on a shared machine than requests per second; the JS
// (main) thread's share from /proc/<pid>/task/<pid>/stat, the part more cores cannot add to.
//
// Options: --only a,b (scenario names), --runs N (5), --duration S (5), --connections C
// (keep-alive scenarios, 50), --no-build (measure the binary that is there; it must still
// be a release build).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync, execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
};
const RUNS = Number(opt('runs', 5));
const DURATION = Number(opt('duration', 5));
const CONNECTIONS = Number(opt('connections', 50));
const ONLY = opt('only', null);
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

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
  { name: 'h2', title: 'HTTP/2 hello world (h2load -c16 -m16)', handler: 'hello', protocol: 'h2', load: h2load, unit: 'request', reference: 'node:http2' },
];

function requireTool(name, hint) {
  if (spawnSync('sh', ['-c', `command -v ${name}`]).status !== 0) {
    console.error(`bench needs ${name}: ${hint}`);
    process.exit(2);
  }
}

function build() {
  if (!args.includes('--no-build')) {
    console.log('building the release binary (npm run build) ...');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const profile = require('../native.js').buildProfile();
  if (profile !== 'release') {
    console.error(`the loaded binary is a ${profile} build; run \`npm run build\` (release) first`);
    process.exit(2);
  }
}

function certificates() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rhttps-bench-'));
  const { key, cert } = require('..').createSelfSignedCertificate({ hosts: ['localhost', '127.0.0.1'] });
  fs.writeFileSync(path.join(dir, 'ecdsa.key'), key);
  fs.writeFileSync(path.join(dir, 'ecdsa.crt'), cert);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.crt',
    '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

function startServer(impl, scenario, certDir) {
  const child = spawn('taskset', ['-c', SERVER_CPU, process.execPath, path.join(__dirname, 'server.js'), impl,
    scenario.handler, certDir, scenario.key || 'ecdsa', scenario.protocol || 'h1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/ready (\d+)/);
      if (m) resolve({ impl, child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`${impl} server exited with ${code}`)));
  });
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

function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

// wrk with keep-alive connections; counts requests (or MiB moved, for the 1 MiB scenarios).
function wrk({ connections = CONNECTIONS, script }) {
  return (port, seconds, scenario) => {
    const argv = ['-c', LOAD_CPU, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`];
    if (script) argv.push('-s', path.join(__dirname, script));
    argv.push(`https://127.0.0.1:${port}/`);
    const out = execFileSync('taskset', argv).toString();
    const requests = Number((out.match(/(\d+) requests in/) || [])[1]);
    const errors = out.match(/Non-2xx or 3xx responses: (\d+)|Socket errors: .*/g);
    if (!requests) throw new Error(`wrk produced no result:\n${out}`);
    return { ops: scenario.unit === 'MiB' ? requests : requests, warning: errors && errors.join('; ') };
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
  return { ops: Number(m[1]), warning: Number(m[2]) ? `${m[2]} failed` : null };
}

function handshakes(port, seconds) {
  const out = execFileSync('taskset', ['-c', LOAD_CPU, process.execPath, path.join(__dirname, 'handshakes.js'), String(port), String(seconds), '16']).toString();
  const r = JSON.parse(out);
  if (!r.handshakes) throw new Error(`no handshake completed: ${out}`);
  return { ops: r.handshakes, warning: r.failed ? `${r.failed} failed or resumed` : null };
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
  return { rate: r.ops / elapsed, cpuPerOp: cpu / r.ops, mainPerOp: main / r.ops };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function runScenario(scenario, certDir) {
  const servers = [await startServer('rhttps', scenario, certDir), await startServer('node', scenario, certDir)];
  const results = { rhttps: [], node: [] };
  try {
    for (const s of servers) measure(s, scenario, 1); // warm-up (JIT, caches)
    for (let run = 0; run < RUNS; run++) {
      const order = run % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const m = measure(s, scenario, DURATION);
        results[s.impl].push(m);
        console.log(`  run ${run + 1} ${s.impl.padEnd(6)} ${m.rate.toFixed(0).padStart(8)} ${scenario.unit}/s  ${m.cpuPerOp.toFixed(1).padStart(8)} µs CPU/${scenario.unit} (JS thread ${m.mainPerOp.toFixed(1)})`);
      }
    }
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
  }
  const summary = {};
  for (const impl of ['rhttps', 'node']) {
    summary[impl] = {
      rate: median(results[impl].map((r) => r.rate)),
      cpuPerOp: median(results[impl].map((r) => r.cpuPerOp)),
      mainPerOp: median(results[impl].map((r) => r.mainPerOp)),
    };
  }
  return { name: scenario.name, title: scenario.title, unit: scenario.unit, summary, runs: results };
}

// RSS of an idle server, and what 1,000 idle TLS connections add per connection.
async function runMemory(certDir) {
  const scenario = { handler: 'hello' };
  const samples = { rhttps: [], node: [] };
  for (let run = 0; run < Math.max(3, Math.ceil(RUNS / 2)); run++) {
    for (const impl of run % 2 === 0 ? ['rhttps', 'node'] : ['node', 'rhttps']) {
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
        samples[impl].push({ idleMiB: idle / 1024, perConnKiB: (loaded - idle) / 1000 });
        console.log(`  run ${run + 1} ${impl.padEnd(6)} idle RSS ${(idle / 1024).toFixed(1)} MiB, +${((loaded - idle) / 1000).toFixed(1)} KiB per idle TLS connection`);
      } finally {
        s.child.kill('SIGTERM');
      }
    }
  }
  const med = (impl, key) => median(samples[impl].map((x) => x[key]));
  return { rhttps: { idleMiB: med('rhttps', 'idleMiB'), perConnKiB: med('rhttps', 'perConnKiB') },
    node: { idleMiB: med('node', 'idleMiB'), perConnKiB: med('node', 'perConnKiB') } };
}

async function main() {
  requireTool('wrk', 'apt-get install wrk');
  requireTool('taskset', 'apt-get install util-linux');
  requireTool('openssl', 'apt-get install openssl');
  if (!ONLY || ONLY.split(',').includes('h2')) requireTool('h2load', 'apt-get install nghttp2-client');
  build();
  const certDir = certificates();
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0].model}), Node ${process.version}`);
  console.log(`servers on core ${SERVER_CPU}, load on core ${LOAD_CPU}; ${RUNS} interleaved runs of ${DURATION} s\n`);
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
  console.log('| workload | rhttps | node:https (node:http2 for HTTP/2) | ratio |');
  console.log('|---|---|---|---|');
  for (const r of all) {
    const { rhttps, node } = r.summary;
    console.log(`| ${r.title}: server CPU µs/${r.unit} | ${rhttps.cpuPerOp.toFixed(1)} | ${node.cpuPerOp.toFixed(1)} | ${(node.cpuPerOp / rhttps.cpuPerOp).toFixed(2)}× less |`);
    console.log(`| ${r.title}: ${r.unit}s/s | ${rhttps.rate.toFixed(0)} | ${node.rate.toFixed(0)} | ${(rhttps.rate / node.rate).toFixed(2)}× |`);
    console.log(`| ${r.title}: JS (main) thread CPU µs/${r.unit} | ${rhttps.mainPerOp.toFixed(1)} | ${node.mainPerOp.toFixed(1)} | ${(rhttps.mainPerOp / node.mainPerOp).toFixed(2)} of node's |`);
  }
  if (memory) {
    console.log(`| idle process RSS, MiB | ${memory.rhttps.idleMiB.toFixed(1)} | ${memory.node.idleMiB.toFixed(1)} | ${(memory.rhttps.idleMiB - memory.node.idleMiB).toFixed(1)} MiB difference |`);
    console.log(`| memory per idle TLS connection, KiB | ${memory.rhttps.perConnKiB.toFixed(1)} | ${memory.node.perConnKiB.toFixed(1)} | ${(memory.node.perConnKiB / memory.rhttps.perConnKiB).toFixed(2)}× less |`);
  }
  const outDir = path.join(__dirname, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ node: process.version, runs: RUNS, duration: DURATION, results: all, memory }, null, 2));
  console.log(`\nraw results: ${path.relative(ROOT, file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
