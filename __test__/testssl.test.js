'use strict';
// The example server passes a testssl.sh audit: no "NOT ok" and no "VULNERABLE" finding.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { ROOT } = require('./helpers');

function installed() {
  try {
    execFileSync('which', ['testssl'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

// CI sets RHTTPS_REQUIRE_TESTSSL so a missing testssl.sh fails there instead of skipping.
const missing = !installed() && !process.env.RHTTPS_REQUIRE_TESTSSL
  && 'testssl.sh is not installed (apt-get install testssl.sh)';

test('testssl.sh finds nothing NOT ok or VULNERABLE on the example server', { skip: missing, timeout: 11 * 60 * 1000 }, () => {
  const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'testssl.js')], { encoding: 'utf8', timeout: 11 * 60 * 1000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /TLS 1\.3\s+offered/);
  assert.match(run.stdout, /Chain of trust\s+Ok/);
  assert.match(run.stdout, /no "NOT ok" and no "VULNERABLE" findings/);
});
