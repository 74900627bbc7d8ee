'use strict';
// `npm run bench:symbol-order`: writes linker/symbol-order.txt, the native module's functions a
// server runs from start-up to a second after listening, then those its first connections run,
// in that order; build.rs has the linker lay them out first (why: its header). It builds the
// module with its symbols (RHTTPS_KEEP_SYMBOLS=1), records with valgrind's callgrind which of
// them bench/server.js runs, once left idle and once answering fresh HTTPS connections (h2load:
// each with its handshake and a request), and builds the module as shipped again. Rerun it after
// a change that renames or adds much of what runs at start-up, or a dependency upgrade (the
// names carry the crates' versions); `npm run bench` shows the idle RSS it gives.
//
// Needs valgrind, h2load and openssl (`apt-get install valgrind nghttp2-client openssl`).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { serverUnderCallgrind } = require('./common');

const ROOT = path.resolve(__dirname, '..');
const LIBRARY = 'rhttps.linux-x64-gnu.node';
const ORDER_FILE = path.join(ROOT, 'linker', 'symbol-order.txt');
const CONNECTIONS = 30;

// A P-256 key and certificate for the bench server, made by openssl: this process must not load
// the module, whose file the builds replace.
function certificateDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rhttps-symbol-order-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', path.join(dir, 'ecdsa.key'), '-out', path.join(dir, 'ecdsa.crt'), '-days', '2', '-subj', '/CN=localhost'],
  { stdio: 'ignore' });
  return dir;
}

function build(env) {
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
}

// The library's functions a callgrind profile (uncompressed names) shows as run, by name:
// callgrind lists them in no lasting order, and the file should change only with what runs.
// Code without a symbol, which callgrind names by its address, is left out.
function functionsRun(profile) {
  const names = new Set();
  let inLibrary = false;
  for (const line of fs.readFileSync(profile, 'utf8').split('\n')) {
    if (line.startsWith('ob=')) inLibrary = line.endsWith(LIBRARY);
    else if (line.startsWith('fn=') && inLibrary && !line.startsWith('fn=0x')) names.add(line.slice(3));
  }
  return new Set([...names].sort());
}

// Runs the bench server under callgrind until a second after listening and, with
// `connections`, until that many fresh connections have each had a request answered.
function record(certDir, connections) {
  const out = path.join(certDir, `callgrind.${connections}.out`);
  const { server, ready, exited: gone } = serverUnderCallgrind(out,
    ['--demangle=no', '--compress-strings=no', '--compress-pos=no'], ['rhttps', 'hello', certDir, 'ecdsa', 'h1']);
  const exited = gone.then(({ how, stderr }) => {
    if (!fs.existsSync(out)) throw new Error(`the callgrind run failed (${how}):\n${stderr}`);
    const names = functionsRun(out);
    fs.rmSync(out, { force: true });
    return names;
  });
  return ready.then(async (port) => {
    await new Promise((r) => setTimeout(r, 1000));
    if (connections > 0) {
      const load = execFileSync('h2load', ['--h1', '-n', String(connections), '-c', String(connections), `https://127.0.0.1:${port}/`],
        { encoding: 'utf8', timeout: 5 * 60 * 1000 });
      const done = /(\d+) succeeded/.exec(load);
      if (!done || Number(done[1]) !== connections) throw new Error(`h2load did not complete ${connections} requests:\n${load}`);
    }
    server.kill('SIGTERM');
    return exited;
  });
}

async function main() {
  for (const [tool, hint, version] of [['valgrind', 'valgrind', '--version'], ['h2load', 'nghttp2-client', '--version'], ['openssl', 'openssl', 'version']]) {
    try {
      execFileSync(tool, [version], { stdio: 'pipe' });
    } catch {
      console.error(`${tool} is not installed: apt-get install ${hint}`);
      process.exit(2);
    }
  }
  const certDir = certificateDir();
  try {
    build({ RHTTPS_KEEP_SYMBOLS: '1' });
    const idle = await record(certDir, 0);
    const serving = await record(certDir, CONNECTIONS);
    if (idle.size === 0) throw new Error(`callgrind saw no function of ${LIBRARY}: was it built with its symbols?`);
    const order = [...idle, ...[...serving].filter((name) => !idle.has(name))];
    const header = [
      '# The native module\'s functions in the order the linker lays them out first (build.rs):',
      '# what a server runs up to a second after listening, then what its first connections run.',
      `# Made by \`npm run bench:symbol-order\` (bench/symbol-order.js); ${idle.size} + ${order.length - idle.size} functions.`,
    ];
    fs.mkdirSync(path.dirname(ORDER_FILE), { recursive: true });
    fs.writeFileSync(ORDER_FILE, `${[...header, ...order].join('\n')}\n`);
    console.log(`${path.relative(ROOT, ORDER_FILE)}: ${idle.size} functions run by an idle server, ${order.length - idle.size} more by its connections`);
  } finally {
    fs.rmSync(certDir, { recursive: true, force: true });
    build({});
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
