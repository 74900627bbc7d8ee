'use strict';
// The suite's own hygiene: what a test process makes in the system's temp directory goes when
// it exits, so that repeated runs (and CI machines) do not fill it.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { runScript } = require('./helpers');

test('a test process\'s scratch directories, its certificate chain\'s among them, are gone once it exits (they were left in the temp directory by every run)', async () => {
  const helpers = JSON.stringify(path.join(__dirname, 'helpers.js'));
  const r = await runScript(`
    const fs = require('node:fs');
    const { tempDir, pki } = require(${helpers});
    const dir = tempDir('hygiene');
    fs.writeFileSync(dir + '/file', 'x');
    console.log(JSON.stringify([dir, pki().dir]));
  `, { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const dirs = JSON.parse(r.stdout);
  assert.equal(dirs.length, 2);
  for (const dir of dirs) assert.equal(fs.existsSync(dir), false, `${dir} is left behind`);
});
