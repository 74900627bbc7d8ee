'use strict';
// `npm run bench`: rhttps and node:https side by side in one run. Each server is pinned to
// core 0 and wrk to core 1; runs alternate between the two servers; medians are reported.
// Server CPU per request comes from /proc/<pid>/stat (user + system time of all threads),
// which is steadier on a shared machine than requests per second.
//
// Options: --runs N (default 5), --duration S (default 5), --connections C (default 50),
//          --no-build (measure the binary that is there; it must still be a release build).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync, execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : Number(args[i + 1]);
};
const RUNS = opt('runs', 5);
const DURATION = opt('duration', 5);
const CONNECTIONS = opt('connections', 50);
const SERVER_CPU = '0';
const LOAD_CPU = '1';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

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
  fs.writeFileSync(path.join(dir, 'key.pem'), key);
  fs.writeFileSync(path.join(dir, 'cert.pem'), cert);
  return dir;
}

function startServer(impl, scenario, certDir) {
  const child = spawn('taskset', ['-c', SERVER_CPU, process.execPath, path.join(__dirname, 'server.js'), impl, scenario, certDir],
    { stdio: ['ignore', 'pipe', 'inherit'] });
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
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

function wrk(port, duration) {
  const out = execFileSync('taskset', ['-c', LOAD_CPU, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${duration}s`, `https://127.0.0.1:${port}/`]).toString();
  const requests = Number((out.match(/(\d+) requests in/) || [])[1]);
  const errors = out.match(/Non-2xx or 3xx responses: (\d+)|Socket errors: .*/g);
  if (!requests) throw new Error(`wrk produced no result:\n${out}`);
  return { requests, errors, out };
}

function measure(server) {
  const before = cpuMicros(server.child.pid);
  const t0 = process.hrtime.bigint();
  const r = wrk(server.port, DURATION);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuMicros(server.child.pid) - before;
  if (r.errors) console.log(`  warning (${server.impl}): ${r.errors.join('; ')}`);
  return { rps: r.requests / seconds, cpuPerReq: cpu / r.requests };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function scenario(name, certDir) {
  const servers = [await startServer('rhttps', name, certDir), await startServer('node', name, certDir)];
  const results = { rhttps: [], node: [] };
  try {
    for (const s of servers) wrk(s.port, 1); // warm-up (JIT, TLS session setup)
    for (let run = 0; run < RUNS; run++) {
      const order = run % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const m = measure(s);
        results[s.impl].push(m);
        console.log(`  run ${run + 1} ${s.impl.padEnd(6)} ${m.rps.toFixed(0).padStart(7)} req/s  ${m.cpuPerReq.toFixed(1).padStart(6)} µs CPU/req`);
      }
    }
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
  }
  const summary = {};
  for (const impl of ['rhttps', 'node']) {
    summary[impl] = {
      rps: median(results[impl].map((r) => r.rps)),
      cpuPerReq: median(results[impl].map((r) => r.cpuPerReq)),
    };
  }
  return { name, summary, runs: results };
}

async function main() {
  requireTool('wrk', 'apt-get install wrk');
  requireTool('taskset', 'apt-get install util-linux');
  build();
  const certDir = certificates();
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0].model}), Node ${process.version}`);
  console.log(`server on core ${SERVER_CPU}, wrk on core ${LOAD_CPU}; ${RUNS} interleaved runs of ${DURATION} s, ${CONNECTIONS} keep-alive connections\n`);
  const all = [];
  for (const name of ['hello']) {
    console.log(`scenario: ${name} (keep-alive, TLS 1.3)`);
    const r = await scenario(name, certDir);
    all.push(r);
    const { rhttps, node } = r.summary;
    console.log('');
    console.log(`  median        req/s   µs CPU/req`);
    console.log(`  rhttps   ${rhttps.rps.toFixed(0).padStart(10)}   ${rhttps.cpuPerReq.toFixed(1).padStart(10)}`);
    console.log(`  node     ${node.rps.toFixed(0).padStart(10)}   ${node.cpuPerReq.toFixed(1).padStart(10)}`);
    console.log(`  ratio    ${(rhttps.rps / node.rps).toFixed(2).padStart(9)}x   ${(node.cpuPerReq / rhttps.cpuPerReq).toFixed(2).padStart(9)}x less CPU\n`);
  }
  const outDir = path.join(__dirname, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ node: process.version, runs: RUNS, duration: DURATION, connections: CONNECTIONS, results: all }, null, 2));
  console.log(`raw results: ${path.relative(ROOT, file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
