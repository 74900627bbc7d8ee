'use strict';
// Shared by the tests: a real certificate chain made with the openssl CLI, clients, and a
// runner for scripts that must be observed as whole processes.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');
const { execFileSync, spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

// Scratch directories of this test process, removed when it exits (node --test runs each test
// file in a process of its own), so that runs of the suite leave nothing in the temp directory.
const scratchDirs = [];

function tempDir(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rhttps-${name}-`));
  if (scratchDirs.length === 0) process.on('exit', removeScratchDirs);
  scratchDirs.push(dir);
  return dir;
}

function removeScratchDirs() {
  for (const dir of scratchDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A child process still writing there (a browser profile) must not fail the exit.
    }
  }
}

let pkiCache = null;

// root CA -> intermediate CA -> leaf for localhost/127.0.0.1/::1, plus an unrelated key.
function pki() {
  if (pkiCache) return pkiCache;
  const dir = tempDir('pki');
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ext = (name, text) => fs.writeFileSync(path.join(dir, name), text);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ext('ca.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  ext('leaf.ext', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
  run('req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.crt', '-subj', '/CN=rhttps Test Root', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  run('req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=rhttps Test Intermediate');
  run('x509', '-req', '-in', 'int.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'int.crt', '-days', '30', '-extfile', 'ca.ext');
  run('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost');
  run('x509', '-req', '-in', 'leaf.csr', '-CA', 'int.crt', '-CAkey', 'int.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '30', '-extfile', 'leaf.ext');
  // A second ECDSA leaf (rotation) and an RSA leaf (several key types at once).
  run('req', ...ec, '-keyout', 'leaf2.key', '-out', 'leaf2.csr', '-subj', '/CN=localhost');
  run('x509', '-req', '-in', 'leaf2.csr', '-CA', 'int.crt', '-CAkey', 'int.key', '-CAcreateserial', '-out', 'leaf2.crt', '-days', '30', '-extfile', 'leaf.ext');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.csr', '-subj', '/CN=localhost');
  run('x509', '-req', '-in', 'rsa.csr', '-CA', 'int.crt', '-CAkey', 'int.key', '-CAcreateserial', '-out', 'rsa.crt', '-days', '30', '-extfile', 'leaf.ext');
  run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  // Client certificates: a client CA, a good client, one from another CA, an expired one.
  ext('client.ext', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  for (const ca of ['clientca', 'otherca']) {
    run('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-subj', `/CN=${ca}`, '-days', '30',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  for (const [name, ca, days] of [['client', 'clientca', '30'], ['stranger', 'otherca', '30'], ['expired', 'clientca', '0']]) {
    run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', days, '-extfile', 'client.ext');
  }
  const read = (f) => fs.readFileSync(path.join(dir, f));
  pkiCache = {
    dir,
    rootCert: read('root.crt'),
    intCert: read('int.crt'),
    leafKey: read('leaf.key'),
    leafCert: read('leaf.crt'),
    otherKey: read('other.key'),
    leaf2Key: read('leaf2.key'),
    leaf2Cert: read('leaf2.crt'),
    rsaKey: read('rsa.key'),
    rsaCert: read('rsa.crt'),
    clientCaCert: read('clientca.crt'),
    clients: Object.fromEntries(['client', 'stranger', 'expired'].map((n) => [n, { key: read(`${n}.key`), cert: read(`${n}.crt`) }])),
  };
  // The server options most tests use: the seed's {key, cert, ca} shape.
  pkiCache.serverOptions = { key: pkiCache.leafKey, cert: pkiCache.leafCert, ca: pkiCache.intCert };
  return pkiCache;
}

function listen(server, ...args) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(...args, () => {
      server.removeListener('error', reject);
      resolve(server.address().port);
    });
  });
}

function close(server) {
  return new Promise((resolve) => {
    if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    server.close(() => resolve());
  });
}

// Runs `fn(port, server)` against an rhttps server with the test chain, then closes it.
async function withServer(handler, fn, options = {}) {
  const server = require('..').createServer({ ...pki().serverOptions, ...options }, handler || ((req, res) => res.end()));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    await fn(port, server);
  } finally {
    await close(server);
  }
}

// One HTTPS request trusting only the test root; resolves with status, headers, body.
function request(port, opts = {}, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      ca: pki().rootCert,
      agent: false,
      ...opts,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), res }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// A raw TLS connection for byte-exact requests; resolves with everything until close. With
// `end`, the client's side ends right behind the payload.
function rawTls(port, payload, { waitMs = 5000, end = false } = {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert }, () => {
      if (end) sock.end(payload);
      else if (payload) sock.write(payload);
    });
    const timer = setTimeout(() => { sock.destroy(); resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false }); }, waitMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => { if (e.code !== 'ECONNRESET') { clearTimeout(timer); reject(e); } });
    sock.on('close', () => { clearTimeout(timer); resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true }); });
  });
}

// Runs a Node script (source text) in a child process with the repo on its require path.
function runScript(source, { timeoutMs = 15000, env = {}, cwd } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['-e', source], {
      cwd: cwd || ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

// One plain-HTTP GET over a raw TCP socket (Connection: close); resolves with the whole answer.
function rawHttpGet(port, path = '/') {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    s.on('data', (d) => { text += d; });
    s.on('error', reject);
    s.on('close', () => resolve(text));
  });
}

// Resolves as `promise` does, or rejects once `ms` have passed: every wait in a test is bounded,
// so a regression fails in seconds with what was awaited, instead of at the runner's limit.
function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// Polls `check` (which may be async) until it is truthy, for at most `ms`.
async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

module.exports = { ROOT, tempDir, pki, listen, close, withServer, request, rawTls, rawHttpGet, runScript, within, until };
