'use strict';
// require('rhttps'): the server side of node:https, served by the rhttps engine. The client
// side (request, get, Agent) is node:https's own, so code using both keeps working.

const https = require('node:https');
const { defineServer } = require('./lib/server');
const { createSelfSignedCertificate: nativeSelfSigned } = require('./lib/native');
const { createSecureContext, SecureContext } = require('./lib/secure-context');

const Server = defineServer(https.Server, true);

function createServer(options, requestListener) {
  return new Server(options, requestListener);
}

/**
 * A self-signed ECDSA P-256 certificate for development.
 * @param {{ hosts?: string[] }} [options] names and IPs (default localhost, 127.0.0.1, ::1)
 * @returns {{ key: string, cert: string }} PEM strings
 */
function createSelfSignedCertificate(options = {}) {
  return nativeSelfSigned(options.hosts);
}

module.exports = {
  Server,
  createServer,
  createSelfSignedCertificate,
  createSecureContext,
  SecureContext,
  Agent: https.Agent,
  globalAgent: https.globalAgent,
  request: https.request,
  get: https.get,
};
