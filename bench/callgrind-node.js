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
// Needs valgrind and h2load (`apt-get install valgrind nghttp2-client`); h2load runs outside
// valgrind, over one keep-alive HTTP/1.1 TLS connection.

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { ecdsaCertificateDir, serverUnderCallgrind } = require('./common');
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
  try {
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

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
