'use strict';
// The typings compile for a consumer written against node:https, under --strict.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ROOT } = require('./helpers');

function tsc(file) {
  const bin = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [bin, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--esModuleInterop', '--skipLibCheck', '--types', 'node', path.join(__dirname, 'types', file)],
    { cwd: ROOT, stdio: 'pipe' });
  } catch (e) {
    assert.fail(`tsc failed for ${file}:\n${e.stdout}${e.stderr}`);
  }
}

test('index.d.ts and http.d.ts type-check a node:https-style consumer under --strict', () => tsc('consumer.ts'));

test('servers type-check where Express, Koa, ws, Fastify, socket.io and Hono expect them; misuse does not', () => tsc('frameworks.ts'));

test('ESM default and named imports are typed', () => tsc('esm-default.mts'));

test('the shipped declaration files themselves compile without skipLibCheck', () => {
  const bin = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [bin, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--types', 'node', 'index.d.ts', 'http.d.ts', 'native.d.ts'], { cwd: ROOT, stdio: 'pipe' });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});
