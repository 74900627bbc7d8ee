'use strict';
// `npm run bench:callgrind`: instructions the engine alone executes per keep-alive request and
// per full TLS handshake, counted by valgrind's callgrind. Unlike CPU time on this shared
// machine, the counts repeat to within about 2 % (0.1 % for handshakes), so they show whether an engine
// change helps. Each workload runs twice (small and large count) and the difference is divided
// by the difference in operations, which cancels start-up and shutdown.
//
// Needs valgrind (`apt-get install valgrind`). The server is engine/examples/engine_load.rs
// (the engine with a minimal Rust responder, no Node); its client runs outside valgrind.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn, spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const BINARY = path.join(ROOT, 'target', 'release', 'examples', 'engine_load');

const WORKLOADS = [
  { name: 'keep-alive request (1 connection)', unit: 'request', small: 1000, large: 5000, extra: [] },
  { name: 'full TLS 1.3 handshake + request (ECDSA P-256)', unit: 'handshake', small: 20, large: 120, extra: ['--handshakes'] },
];

function waitForFile(file, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (fs.existsSync(file) && fs.statSync(file).size > 0) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error(`the server did not start within ${ms / 1000} s`);
}

// Runs the server under callgrind for `count` operations; resolves with its instruction total.
function instructions(count, extra) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rhttps-callgrind-'));
  const out = path.join(dir, 'callgrind.out');
  const portFile = path.join(dir, 'port');
  const certFile = path.join(dir, 'cert.pem');
  const server = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`,
    BINARY, 'serve', '--requests', String(count), '--port-file', portFile, '--cert-file', certFile], {
    // One engine thread: the count is the same work whatever the machine's cores.
    env: { ...process.env, RHTTPS_THREADS: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  server.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => server.kill('SIGKILL'), 5 * 60 * 1000);
    server.on('exit', (code) => {
      clearTimeout(timer);
      const summary = fs.existsSync(out) && /^summary:\s*(\d+)/m.exec(fs.readFileSync(out, 'utf8'));
      if (code !== 0 || !summary) reject(new Error(`callgrind run failed (${code}):\n${stderr}`));
      else resolve(Number(summary[1]));
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
  waitForFile(portFile, 60_000);
  execFileSync(BINARY, ['load', '--port', fs.readFileSync(portFile, 'utf8'), '--cert-file', certFile,
    '--requests', String(count), ...extra], { stdio: 'inherit', timeout: 5 * 60 * 1000 });
  return done;
}

async function main() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'pipe' });
  } catch {
    console.error('valgrind is not installed: apt-get install valgrind');
    process.exit(2);
  }
  execFileSync('cargo', ['build', '--release', '-p', 'rhttps-engine', '--example', 'engine_load'], { cwd: ROOT, stdio: 'inherit' });
  console.log('| workload | instructions per operation |');
  console.log('|---|---|');
  for (const w of WORKLOADS) {
    const small = await instructions(w.small, w.extra);
    const large = await instructions(w.large, w.extra);
    const per = Math.round((large - small) / (w.large - w.small));
    console.log(`| ${w.name} | ${per.toLocaleString('en-US')} per ${w.unit} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
