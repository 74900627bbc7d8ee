'use strict';
// `npm ci` in a checkout and `npm install` from a git URL build the binary from source (it is
// then packed with the package, see "files"). `npm publish` builds nothing: released binaries
// come from CI artifacts and ship in the per-platform packages.

const { execFileSync } = require('node:child_process');

if (process.env.npm_command === 'publish') {
  console.log('rhttps: publish uses the prebuilt per-platform packages; skipping the source build');
} else {
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit', cwd: require('node:path').resolve(__dirname, '..') });
}
