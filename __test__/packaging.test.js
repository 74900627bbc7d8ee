'use strict';
// The install path as a user meets it: packed tarballs installed into a fresh project that
// cannot see this source tree, the package contents, and the error when no binary fits.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ROOT, runScript, tempDir } = require('./helpers');

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const platformDir = 'linux-x64-gnu';
const binary = `rhttps.${platformDir}.node`;

function npm(args, cwd) {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, stdio: 'pipe' }).toString();
}

// The package directory as a release publishes it: the files list, with the binaries living
// in the per-platform packages (so no `.node` at the top).
function stageRelease() {
  const stage = tempDir('stage-main');
  for (const f of [...pkg.files, 'package.json', 'README.md', 'LICENSE']) {
    if (f.includes('*')) continue;
    fs.cpSync(path.join(ROOT, f), path.join(stage, f), { recursive: true });
  }
  return stage;
}

// The main package as `napi pre-publish` leaves it: optionalDependencies on every platform.
function packMain(dest) {
  const stage = stageRelease();
  const staged = { ...pkg, optionalDependencies: {} };
  for (const dir of fs.readdirSync(path.join(ROOT, 'npm'))) {
    staged.optionalDependencies[`rhttps-${dir}`] = pkg.version;
  }
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(staged, null, 2));
  npm(['pack', '--ignore-scripts', '--pack-destination', dest], stage);
  return path.join(dest, `rhttps-${pkg.version}.tgz`);
}

function packPlatform(dest) {
  const stage = tempDir('stage-platform');
  fs.cpSync(path.join(ROOT, 'npm', platformDir), stage, { recursive: true });
  fs.copyFileSync(path.join(ROOT, binary), path.join(stage, binary));
  npm(['pack', '--pack-destination', dest], stage);
  return path.join(dest, `rhttps-${platformDir}-${pkg.version}.tgz`);
}

function freshProject() {
  const dir = tempDir('app');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  return dir;
}

test('the published package holds only the loader, JS layer, typings, README and license', () => {
  const [report] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], stageRelease()));
  const files = report.files.map((f) => f.path).sort();
  const libFiles = fs.readdirSync(path.join(ROOT, 'lib')).map((f) => `lib/${f}`);
  const literal = pkg.files.filter((f) => f !== 'lib/' && !f.includes('*'));
  const expected = [...literal, ...libFiles, 'package.json', 'README.md', 'LICENSE'].sort();
  assert.deepEqual(files, expected);
  assert.ok(!files.some((f) => f.endsWith('.rs') || f.startsWith('__test__') || f.endsWith('.node')));
});

// The names of an ELF64 little-endian file's sections.
function elfSections(file) {
  const elf = fs.readFileSync(file);
  assert.equal(elf.toString('latin1', 0, 4), '\x7fELF');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const header = (i) => shoff + i * shentsize;
  const strtab = Number(elf.readBigUInt64LE(header(elf.readUInt16LE(0x3e)) + 0x18));
  return Array.from({ length: shnum }, (_, i) => {
    const at = strtab + elf.readUInt32LE(header(i));
    return elf.toString('latin1', at, elf.indexOf(0, at));
  });
}

test('a release binary carries no symbol table: the linker strips it (build.rs)', (t) => {
  const sections = elfSections(path.join(ROOT, binary));
  assert.ok(sections.includes('.text') && sections.includes('.dynsym'), `sections: ${sections.join(' ')}`);
  if (sections.includes('.debug_info')) return t.skip('a debug build, which keeps its symbols');
  assert.ok(!sections.includes('.symtab'), 'a .symtab section is left in the binary');
});

test('tarballs installed into a fresh project serve HTTPS, from CommonJS and ESM', { timeout: 120000 }, async () => {
  const dist = tempDir('dist');
  const main = packMain(dist);
  const platform = packPlatform(dist);
  const app = freshProject();
  npm(['install', main, platform], app);
  assert.ok(fs.existsSync(path.join(app, 'node_modules', `rhttps-${platformDir}`, binary)));
  const cjs = await runScript(`
    const https = require('rhttps');
    const client = require('node:https');
    const { key, cert } = https.createSelfSignedCertificate();
    const server = https.createServer({ key, cert }, (req, res) => res.end('served from the install'));
    server.listen(0, '127.0.0.1', () => {
      client.get({ port: server.address().port, host: '127.0.0.1', servername: 'localhost', ca: cert }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d) => { console.log(d, require.resolve('rhttps').startsWith(process.cwd())); server.close(); });
      });
    });`, { cwd: app });
  assert.equal(cjs.code, 0, cjs.stderr);
  assert.equal(cjs.stdout.trim(), 'served from the install true');
  fs.writeFileSync(path.join(app, 'esm.mjs'), `
    import https, { createServer } from 'rhttps';
    import { createServer as createHttp } from 'rhttps/http';
    console.log(typeof createServer, https.createServer === createServer, typeof createHttp);`);
  const esm = execFileSync(process.execPath, ['esm.mjs'], { cwd: app }).toString().trim();
  assert.equal(esm, 'function true function');
});

test('with no binary for the platform, require says which platform and what to do', { timeout: 120000 }, async () => {
  const dist = tempDir('dist');
  const main = packMain(dist);
  const app = freshProject();
  npm(['install', '--omit=optional', main], app);
  const r = await runScript(`
    try { require('rhttps'); console.log('loaded?!'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`, { cwd: app });
  const err = JSON.parse(r.stdout);
  assert.equal(err.code, 'ERR_RHTTPS_NATIVE_MISSING');
  assert.match(err.message, new RegExp(`${process.platform}-${process.arch}`));
  assert.match(err.message, /npm run build|optional/);
});

// Builds the whole crate from source (minutes): run with RHTTPS_SLOW_TESTS=1 (CI does).
const slow = process.env.RHTTPS_SLOW_TESTS === '1' ? {} : { skip: 'slow (a source build): set RHTTPS_SLOW_TESTS=1 to run it' };

test('installing from a git checkout builds the binary from source', { timeout: 900000, ...slow }, async () => {
  const app = freshProject();
  // npm clones the repository, installs its dev dependencies and runs `prepare` (napi build).
  npm(['install', `git+file://${ROOT}`], app);
  const installed = path.join(app, 'node_modules', 'rhttps');
  assert.ok(fs.existsSync(path.join(installed, binary)), 'the binary was built during install');
  const r = await runScript(`
    const https = require('rhttps');
    const { key, cert } = https.createSelfSignedCertificate();
    const s = https.createServer({ key, cert }).listen(0, '127.0.0.1', () => { console.log('built and listening'); s.close(); });`,
  { cwd: app });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'built and listening');
});
