'use strict';
// `npm start`: the seed article's server on https://localhost:8443 (PORT to change it).
// Give it real files with RHTTPS_KEY, RHTTPS_CERT and RHTTPS_CA; without them it makes a
// self-signed certificate for localhost and says how to trust it.

const https = require('rhttps');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const port = process.env.PORT === undefined ? 8443 : Number(process.env.PORT);

function credentials() {
  const { RHTTPS_KEY, RHTTPS_CERT, RHTTPS_CA } = process.env;
  if (RHTTPS_KEY && RHTTPS_CERT) {
    const options = { key: fs.readFileSync(RHTTPS_KEY), cert: fs.readFileSync(RHTTPS_CERT) };
    if (RHTTPS_CA) options.ca = fs.readFileSync(RHTTPS_CA);
    return { options, certPath: null };
  }
  const { key, cert } = https.createSelfSignedCertificate({ hosts: ['localhost', '127.0.0.1', '::1'] });
  const certPath = path.join(os.tmpdir(), `rhttps-localhost-${process.pid}.crt`);
  fs.writeFileSync(certPath, cert);
  return { options: { key, cert }, certPath };
}

const { options, certPath } = credentials();
// The certificate is made anew at each start, so it goes when the server stops.
if (certPath) process.on('exit', () => fs.rmSync(certPath, { force: true }));
const server = https.createServer(options, (req, res) => {
  res.writeHead(200);
  res.end('Hello, Secure World!');
});

server.listen(port, () => {
  const url = `https://localhost:${server.address().port}/`;
  console.log(`HTTPS server running on ${url}`);
  if (certPath) {
    console.log('No RHTTPS_KEY/RHTTPS_CERT given: using a self-signed certificate for localhost.');
    console.log(`Trust it for a client with:  curl --cacert ${certPath} ${url}`);
    console.log(`                       or:  NODE_EXTRA_CA_CERTS=${certPath} node client.js`);
  }
});

process.on('SIGINT', () => server.close(() => process.exit(0)));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
