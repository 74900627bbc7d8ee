'use strict';
// What the bench scripts share: their `--name value` options, a process's resident memory,
// a folder of test certificates, and a bench server run under valgrind's callgrind.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

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

// Runs `bench/server.js <serverArgs>` under callgrind (with `valgrindArgs` besides), its
// profile going to `out`. `ready` resolves with the port once it listens (within 2 minutes);
// `exited` once the process is gone (killed after 5 minutes), with how it ended and its stderr.
// `root` is the checkout whose server (and so whose build) runs; `nodeArgs` go to Node.
function serverUnderCallgrind(out, valgrindArgs, serverArgs, { root = path.resolve(__dirname, '..'), nodeArgs = [] } = {}) {
  const server = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', ...valgrindArgs,
    `--callgrind-out-file=${out}`, process.execPath, ...nodeArgs, path.join(root, 'bench', 'server.js'), ...serverArgs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  server.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => {
    const timer = setTimeout(() => server.kill('SIGKILL'), 5 * 60 * 1000);
    server.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ how: code ?? signal, stderr });
    });
  });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${serverArgs[0]} did not start under valgrind within 2 minutes`)), 2 * 60 * 1000);
    server.stdout.on('data', (d) => {
      stdout += d;
      const m = /ready (\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { server, ready, exited };
}

module.exports = { args, option, flag, rssKiB, ecdsaCertificateDir, serverUnderCallgrind };
