'use strict';
// What the bench scripts share: their `--name value` options, and a process's resident memory.

const fs = require('node:fs');

const args = process.argv.slice(2);

// The value after `--name`, or `def` when the option is not given.
function option(name, def) {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
}

function flag(name) {
  return args.includes(`--${name}`);
}

// VmRSS of process `pid`, in KiB.
function rssKiB(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]);
}

module.exports = { args, option, flag, rssKiB };
