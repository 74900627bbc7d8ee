'use strict';
// `npm run bench:callgrind-node`: instructions the whole server process (Node, V8, the JS
// layer and the engine, every thread) executes per keep-alive hello request, for rhttps and
// for node:https running the same `bench/server.js`, counted by valgrind's callgrind. Where
// `bench:callgrind` counts the engine alone, this counts what a request costs a Node server,
// JS included, so it shows whether a change to the JS layer or to the bridge helps. V8's
// compiler threads run when they run, so counts repeat less closely than the engine's (about
// 1 %); each figure is the difference between a short and a long run over the difference in
// requests, which cancels start-up and shutdown.
//
// `--compare DIR` measures rhttps in this checkout and in the checkout DIR (each with its own
// build) instead, for a change to the JS layer: V8 then runs single-threaded (`--single-threaded`:
// its compilers and collector on the JS thread, not as they happen to be scheduled), and each
// count is given for the JS thread alone and for the whole process. The JS thread's repeats to
// within about 0.5 %, where the whole process's moves by up to 5 %. `--runs N` (2) alternates
// the two checkouts N times.
//
// Needs valgrind and h2load (`apt-get install valgrind nghttp2-client`); h2load runs outside
// valgrind, over one keep-alive HTTP/1.1 TLS connection.

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { ecdsaCertificateDir, serverUnderCallgrind, option } = require('./common');
const SMALL = 3000;
const LARGE = 8000;

// Runs `impl`'s server under callgrind for `count` requests; resolves with its instruction total.
function instructions(impl, count, certDir) {
  const out = path.join(certDir, `callgrind.${impl}.${count}.out`);
  const { server, ready, exited: gone } = serverUnderCallgrind(out, [], [impl, 'hello', certDir, 'ecdsa', 'h1']);
  const exited = gone.then(({ how, stderr }) => {
    const summary = fs.existsSync(out) && /^summary:\s*(\d+)/m.exec(fs.readFileSync(out, 'utf8'));
    fs.rmSync(out, { force: true });
    if (!summary) throw new Error(`callgrind run of ${impl} failed (${how}):\n${stderr}`);
    return Number(summary[1]);
  });
  return loaded(server, ready, exited, count);
}

// The same for rhttps in checkout `root`, V8 single-threaded and each thread counted apart;
// resolves with { main, all }: the JS thread's count (callgrind's thread 1) and every thread's.
function threadInstructions(root, count, certDir) {
  const out = path.join(certDir, `callgrind.threads.${count}.out`);
  const { server, ready, exited: gone } = serverUnderCallgrind(out, ['--separate-threads=yes'],
    ['rhttps', 'hello', certDir, 'ecdsa', 'h1'], { root, nodeArgs: ['--single-threaded'] });
  const exited = gone.then(({ how, stderr }) => {
    const files = fs.readdirSync(certDir).filter((f) => f.startsWith(path.basename(out)));
    const counts = new Map();
    for (const f of files) {
      const text = fs.readFileSync(path.join(certDir, f), 'utf8');
      fs.rmSync(path.join(certDir, f), { force: true });
      const thread = /^thread:\s*(\d+)/m.exec(text);
      const summary = /^summary:\s*(\d+)/m.exec(text);
      if (thread && summary) counts.set(Number(thread[1]), Number(summary[1]));
    }
    if (!counts.has(1)) throw new Error(`callgrind run of ${root} failed (${how}):\n${stderr}`);
    return { main: counts.get(1), all: [...counts.values()].reduce((a, b) => a + b, 0) };
  });
  return loaded(server, ready, exited, count);
}

// Sends `count` requests once the server listens, then stops it; resolves with `exited`'s value.
function loaded(server, ready, exited, count) {
  return ready.then((port) => {
    const load = execFileSync('h2load', ['--h1', '-n', String(count), '-c', '1', `https://127.0.0.1:${port}/`],
      { encoding: 'utf8', timeout: 5 * 60 * 1000 });
    const done = /(\d+) succeeded/.exec(load);
    if (!done || Number(done[1]) !== count) throw new Error(`h2load did not complete ${count} requests:\n${load}`);
    server.kill('SIGTERM');
    return exited;
  });
}

async function main() {
  for (const [tool, hint] of [['valgrind', 'valgrind'], ['h2load', 'nghttp2-client']]) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'pipe' });
    } catch {
      console.error(`${tool} is not installed: apt-get install ${hint}`);
      process.exit(2);
    }
  }
  const certDir = ecdsaCertificateDir('rhttps-callgrind-node-');
  const other = option('compare', null);
  try {
    if (other !== null) {
      await compare([path.resolve(__dirname, '..'), path.resolve(other)], Number(option('runs', 2)), certDir);
      return;
    }
    console.log('| server | instructions per keep-alive hello request (whole process) |');
    console.log('|---|---|');
    for (const impl of ['rhttps', 'node']) {
      const small = await instructions(impl, SMALL, certDir);
      const large = await instructions(impl, LARGE, certDir);
      const per = Math.round((large - small) / (LARGE - SMALL));
      console.log(`| ${impl === 'node' ? 'node:https' : 'rhttps'} | ${per.toLocaleString('en-US')} |`);
    }
  } finally {
    fs.rmSync(certDir, { recursive: true, force: true });
  }
}

// Alternates the checkouts `runs` times; a row per run and checkout.
async function compare(roots, runs, certDir) {
  console.log('| checkout | run | instructions per keep-alive hello request: JS thread | whole process |');
  console.log('|---|---:|---:|---:|');
  for (let run = 1; run <= runs; run++) {
    for (const root of roots) {
      const small = await threadInstructions(root, SMALL, certDir);
      const large = await threadInstructions(root, LARGE, certDir);
      const per = (key) => Math.round((large[key] - small[key]) / (LARGE - SMALL)).toLocaleString('en-US');
      console.log(`| ${root} | ${run} | ${per('main')} | ${per('all')} |`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
