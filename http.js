'use strict';
// require('rhttps/http'): the server side of node:http (plain TCP) on the rhttps engine.

const http = require('node:http');
const { defineServer } = require('./lib/server');

const Server = defineServer(http.Server, false);

function createServer(options, requestListener) {
  return new Server(options, requestListener);
}

module.exports = {
  ...http,
  Server,
  createServer,
};
