'use strict';
// The examples as users run them: the seed article's snippet verbatim (apart from the
// require) with a CA-signed chain on port 443, and `npm start`'s self-signed server.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const { spawn } = require('node:child_process');
const { ROOT, pki, tempDir, within } = require('./helpers');

// Starts `node file` and resolves once `ready` matches its output.
function start(file, { cwd, env = {}, ready }) {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 10 s: ${out}`)), 10000);
    const onData = (d) => {
      out += d;
      const m = out.match(ready);
      if (m) { clearTimeout(timer); resolve(m); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(Object.assign(new Error(`exited ${code}: ${out}`), { out })); });
  });
  return { child, started, output: () => out };
}

function get(url, ca) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, agent: false }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    }).on('error', reject);
  });
}

test('the seed example runs verbatim with a CA-signed chain; a client trusting only the root connects', async (t) => {
  const p = pki();
  const dir = tempDir('seed');
  fs.mkdirSync(path.join(dir, 'path/to'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'path/to/private.key'), p.leafKey);
  fs.writeFileSync(path.join(dir, 'path/to/certificate.crt'), p.leafCert);
  fs.writeFileSync(path.join(dir, 'path/to/chain.pem'), p.intCert);
  // As after `npm install rhttps` in the user's project.
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules/rhttps'), 'dir');
  fs.copyFileSync(path.join(ROOT, 'examples/seed.js'), path.join(dir, 'server.js'));

  const run = start('server.js', { cwd: dir, ready: /HTTPS server running on port 443|EACCES|EADDRINUSE/ });
  const [line] = await run.started;
  if (line !== 'HTTPS server running on port 443') {
    run.child.kill();
    if (line === 'EACCES') return t.skip('port 443 needs root here');
    assert.fail(`could not bind 443: ${run.output()}`);
  }
  try {
    const r = await get('https://localhost:443/', p.rootCert);
    assert.deepEqual(r, { status: 200, body: 'Hello, Secure World!' });
  } finally {
    run.child.kill();
  }
});

test('npm start\'s example generates a certificate, says how to trust it, serves, and removes the certificate when stopped', async () => {
  const run = start(path.join(ROOT, 'examples/server.js'), {
    cwd: ROOT,
    env: { PORT: '0' },
    ready: /curl --cacert (\S+) (https:\/\/localhost:\d+\/)/,
  });
  const [, certPath, url] = await run.started;
  const exited = new Promise((resolve) => run.child.once('exit', resolve));
  try {
    const r = await get(url, fs.readFileSync(certPath));
    assert.deepEqual(r, { status: 200, body: 'Hello, Secure World!' });
  } finally {
    run.child.kill('SIGTERM');
  }
  assert.equal(await within(exited, 10000, 'the example exiting on SIGTERM'), 0);
  assert.equal(fs.existsSync(certPath), false, `${certPath} is left behind`);
});
