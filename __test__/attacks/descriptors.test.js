'use strict';
// Out of file descriptors: a server in a child process limited to 64 descriptors gets 100
// connections. As on Node (libuv), there is no 'error' event and no crash, the server does not
// spin on the failing accept, and it serves again once the connections close.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { spawn, execFileSync } = require('node:child_process');
const { ROOT, within, rawHttpGet } = require('../helpers');

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const SERVER = `
  const server = require(${JSON.stringify(`${ROOT}/http`)}).createServer((req, res) => res.end('ok'));
  process.on('warning', (w) => console.error('warning ' + w.code));
  server.listen({ port: 0, host: '127.0.0.1', backlog: 511 }, () => console.log('port ' + server.address().port));
`;

function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

test('regression: EMFILE under ulimit -n 64 neither kills the server nor spins, and serving resumes', async () => {
  const child = spawn('sh', ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const clients = [];
  try {
    await within(new Promise((resolve) => child.stdout.on('data', () => { if (/port \d+/.test(stdout)) resolve(); })), 10000, 'the server listening');
    const port = Number(stdout.match(/port (\d+)/)[1]);
    for (let i = 0; i < 100; i++) {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => {});
      clients.push(s);
    }
    // Let the server run out of descriptors, then watch its CPU while it is out.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(child.exitCode, null, `the server died when it ran out of descriptors: ${stderr}`);
    const before = cpuSeconds(child.pid);
    await new Promise((r) => setTimeout(r, 2000));
    const used = cpuSeconds(child.pid) - before;
    assert.ok(used < 0.4, `the server used ${used.toFixed(2)} s of CPU in 2 s while out of descriptors (no spinning)`);
    assert.equal(child.exitCode, null, `the server is still running: ${stderr}`);
    for (const s of clients) s.destroy();
    const answer = await within(rawHttpGet(port), 10000, 'a request once descriptors are free');
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.doesNotMatch(stderr, /Error: accept|Uncaught/, 'no error reached the application');
    assert.ok((stderr.match(/warning RHTTPS_ACCEPT_PAUSED/g) || []).length <= 1, `at most one warning: ${stderr}`);
  } finally {
    for (const s of clients) s.destroy();
    child.kill();
    await within(exited, 5000, 'the server exiting');
  }
});
