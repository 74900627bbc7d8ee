'use strict';
// `npm run conformance -- <tree> [--baseline] [--jobs N] [--only REGEX] [--timeout S]`
//
// Runs Node's own HTTP/HTTPS server tests against rhttps. <tree> is a checkout of Node's
// `test/` directory at a release tag (for Node 20.11.1, denoland/node_test at commit
// be77956923934fee955d80a3e53c4fa493fe1be0), holding test/parallel, test/common and
// test/fixtures. Each selected file runs unmodified in its own process, with a preload
// (conformance-preload.js) that makes `http.createServer`/`http.Server` and
// `https.createServer`/`https.Server` rhttps's. `--baseline` runs the same files through the
// same preload without the swap, on plain Node: every file must pass there.
//
// Selection: test/parallel/test-http-*.js, test-https-*.js and test-diagnostics-channel-http*.js
// that create a server (http2 and client-only files are left out). Expected failures, each
// with its reason, are listed in conformance-expected.js. Node's files are never copied into
// this project. Prints `N passed, N failed`; exits non-zero on an unexpected result.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { onBaseline, onRhttps } = require('./conformance-expected');

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
};
const valued = new Set(['--jobs', '--only', '--timeout']);
const tree = args.find((a, i) => !a.startsWith('--') && !valued.has(args[i - 1]));
const BASELINE = flag('baseline');
const JOBS = Number(opt('jobs', Math.max(1, os.cpus().length)));
const ONLY = opt('only', null);
const TIMEOUT_MS = Number(opt('timeout', 60)) * 1000;
const PRELOAD = path.join(__dirname, 'conformance-preload.js');

function selection(parallel) {
  return fs.readdirSync(parallel)
    .filter((f) => /^test-(http-|https-|diagnostics-channel-http).*\.js$/.test(f))
    .filter((f) => !f.startsWith('test-http2'))
    .filter((f) => /createServer\(|\.Server\(/.test(fs.readFileSync(path.join(parallel, f), 'utf8')))
    .filter((f) => !ONLY || new RegExp(ONLY).test(f))
    .sort();
}

// Node's test runner reads `// Flags: ...` from the file and passes them to node.
function flagsOf(file) {
  const m = fs.readFileSync(file, 'utf8').match(/^\/\/ Flags: (.+)$/m);
  return m ? m[1].trim().split(/\s+/) : [];
}

function runOne(file, slot) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [...flagsOf(file), '-r', PRELOAD, file], {
      cwd: path.dirname(path.dirname(path.dirname(file))),
      env: { ...process.env, TEST_THREAD_ID: String(slot), RHTTPS_CONFORMANCE_BASELINE: BASELINE ? '1' : '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, code, signal, ms: Date.now() - started, output });
    });
  });
}

async function main() {
  if (!tree) {
    console.log('conformance: skipped: give the path of a checkout of Node\'s test/ tree '
      + '(for Node 20.11.1: denoland/node_test at be77956923934fee955d80a3e53c4fa493fe1be0), '
      + 'e.g. `npm run conformance -- /path/to/node_test`');
    return;
  }
  const parallel = path.join(tree, 'test', 'parallel');
  if (!fs.existsSync(parallel) || !fs.existsSync(path.join(tree, 'test', 'common', 'index.js'))) {
    console.error(`conformance: ${tree} has no test/parallel and test/common: not a Node test tree`);
    process.exit(2);
  }
  const all = selection(parallel);
  // Files that fail on plain Node are no measure of rhttps (see conformance-expected.js).
  const files = all.filter((f) => !onBaseline[f]);
  console.log(`conformance: ${files.length} files (${all.length - files.length} more fail on plain Node and are left out) on ${BASELINE ? 'plain Node (baseline)' : 'rhttps'}, ${JOBS} at a time, ${TIMEOUT_MS / 1000} s each`);
  const results = new Map();
  let next = 0;
  await Promise.all(Array.from({ length: JOBS }, async (_, slot) => {
    while (next < files.length) {
      const name = files[next++];
      results.set(name, await runOne(path.join(parallel, name), slot));
    }
  }));
  const failed = files.filter((f) => !results.get(f).ok);
  const unexpected = failed.filter((f) => BASELINE || !onRhttps[f]);
  const fixed = BASELINE ? [] : files.filter((f) => onRhttps[f] && results.get(f).ok);
  for (const f of unexpected) {
    const r = results.get(f);
    const why = r.signal ? `killed (${r.signal}) after ${r.ms} ms` : `exit ${r.code}`;
    console.log(`\nFAIL ${f}: ${why}\n${r.output.trim().split('\n').slice(-12).map((l) => `  ${l}`).join('\n')}`);
  }
  for (const f of fixed) console.log(`passes now, remove from conformance-expected.js: ${f}`);
  const expectedFailures = failed.length - unexpected.length;
  console.log(`\n${files.length - failed.length} of ${files.length} pass (${((files.length - failed.length) / files.length * 100).toFixed(1)} %)`
    + (BASELINE ? '' : `; ${expectedFailures} failures are listed as expected`));
  console.log(`${files.length - failed.length} passed, ${failed.length} failed`);
  if (unexpected.length > 0 || fixed.length > 0) process.exitCode = 1;
}

main();
