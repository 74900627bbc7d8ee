'use strict';
// What the bench scripts share: their `--name value` options, a process's resident memory,
// and a folder of test certificates.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);

// The value after `--name`, or `def` when the option is not given.
function option(name, def) {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
}

function flag(name) {
  return args.includes(`--${name}`);
}

// A fresh temporary folder holding `ecdsa.key` and `ecdsa.crt`, a self-signed P-256
// certificate for localhost and 127.0.0.1 made by rhttps itself.
function ecdsaCertificateDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const { key, cert } = require('..').createSelfSignedCertificate({ hosts: ['localhost', '127.0.0.1'] });
  fs.writeFileSync(path.join(dir, 'ecdsa.key'), key);
  fs.writeFileSync(path.join(dir, 'ecdsa.crt'), cert);
  return dir;
}

// VmRSS of process `pid`, in KiB.
function rssKiB(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]);
}

module.exports = { args, option, flag, rssKiB, ecdsaCertificateDir };
