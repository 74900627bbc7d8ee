'use strict';
// Preloaded (`node -r`) into each of Node's test files by scripts/conformance.js: the test's
// servers become rhttps servers. This patches Node's modules inside that test process only,
// which is the point of the exercise; rhttps itself never does. With
// RHTTPS_CONFORMANCE_BASELINE=1 it changes nothing (the baseline run on plain Node).

if (process.env.RHTTPS_CONFORMANCE_BASELINE !== '1') {
  const http = require('node:http');
  const https = require('node:https');
  const rhttps = require('..');
  const rhttpsHttp = require('../http');
  http.createServer = rhttpsHttp.createServer;
  http.Server = rhttpsHttp.Server;
  https.createServer = rhttps.createServer;
  https.Server = rhttps.Server;
}
