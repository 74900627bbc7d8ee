'use strict';
// `node scripts/testssl.js`: audits the example server's TLS with testssl.sh (Debian package
// `testssl.sh`) and exits non-zero on any finding testssl marks "NOT ok" or "VULNERABLE".
//
// The server gets a real chain made here (root -> intermediate -> leaf with a CRL
// distribution point) and testssl trusts the root, so certificate findings are about the
// server, not about a self-signed development certificate. rustls lets the client's cipher
// order win by default, which testssl reports as "no server cipher order"; rhttps sets
// `ignore_client_order` (Node's `honorCipherOrder` default), so that check passes too.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const TIME_LIMIT_MS = 10 * 60 * 1000;

function testsslBinary() {
  for (const name of ['testssl', 'testssl.sh']) {
    try {
      execFileSync('which', [name], { stdio: 'pipe' });
      return name;
    } catch { /* try the next name */ }
  }
  return null;
}

function makeChain(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  fs.writeFileSync(path.join(dir, 'leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
    + 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n'
    + 'crlDistributionPoints=URI:http://127.0.0.1/rhttps-testssl.crl\n');
  run('req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.crt', '-subj', '/CN=rhttps testssl Root', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  run('req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=rhttps testssl Intermediate');
  run('x509', '-req', '-in', 'int.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'int.crt', '-days', '30', '-extfile', 'ca.ext');
  run('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost');
  run('x509', '-req', '-in', 'leaf.csr', '-CA', 'int.crt', '-CAkey', 'int.key', '-CAcreateserial', '-out', 'leaf.crt', '-days', '30', '-extfile', 'leaf.ext');
}

// Starts examples/server.js on a free port; resolves with the child and its port.
function startExample(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'examples', 'server.js')], {
      env: {
        ...process.env,
        PORT: '0',
        RHTTPS_KEY: path.join(dir, 'leaf.key'),
        RHTTPS_CERT: path.join(dir, 'leaf.crt'),
        RHTTPS_CA: path.join(dir, 'int.crt'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /https:\/\/localhost:(\d+)\//.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`the example server exited (${code}) before listening:\n${out}`)));
  });
}

function runTestssl(binary, port, rootCa) {
  return new Promise((resolve, reject) => {
    const args = ['--quiet', '--color', '0', '--warnings', 'batch', '--add-ca', rootCa, '--ip', '127.0.0.1', `https://localhost:${port}/`];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIME_LIMIT_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`testssl was stopped (${signal}) after ${TIME_LIMIT_MS / 1000} s`));
      else resolve(out);
    });
  });
}

async function main() {
  const binary = testsslBinary();
  if (!binary) {
    console.error('testssl.sh is not installed: apt-get install testssl.sh');
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rhttps-testssl-'));
  makeChain(dir);
  const { child, port } = await startExample(dir);
  let report;
  try {
    report = await runTestssl(binary, port, path.join(dir, 'root.crt'));
  } finally {
    child.kill();
    // The server has read its certificate and key; the chain was made for this run alone.
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(report);
  const findings = report.split('\n').filter((line) => /NOT ok|VULNERABLE/.test(line) && !/not vulnerable/i.test(line));
  if (!/Done \d{4}-/.test(report)) {
    console.error('\ntestssl did not finish its run');
    process.exit(1);
  }
  if (findings.length > 0) {
    console.error(`\n${findings.length} finding(s):\n${findings.join('\n')}`);
    process.exit(1);
  }
  console.log('\ntestssl: no "NOT ok" and no "VULNERABLE" findings');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
