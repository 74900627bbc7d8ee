'use strict';
// Server and socket details libraries and Node's own tests read, compared with node:https on
// the same input: net.Server's socket options, tls.Server's ALPN list, highWaterMark, the
// refused socket encoding, bytesWritten while the response is still buffered and for string
// bodies in each encoding, and which connections closeIdleConnections() leaves open.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');
const rhttps = require('..');
const { pki, listen, close, request, within } = require('./helpers');

const both = [['node', https.createServer], ['rhttps', rhttps.createServer]];

test('server properties: noDelay, keepAlive, highWaterMark and the ALPN list, as on node:https', () => {
  const seen = {};
  for (const [name, createServer] of both) {
    const plain = createServer(pki().serverOptions);
    const tuned = createServer({ ...pki().serverOptions, highWaterMark: 32768, ALPNProtocols: ['h2', 'http/1.1'], keepAlive: true });
    seen[name] = [plain, tuned].map((s) => ({
      noDelay: s.noDelay, keepAlive: s.keepAlive, highWaterMark: s.highWaterMark, ALPNProtocols: s.ALPNProtocols.toString('hex'),
    }));
  }
  assert.deepEqual(seen.rhttps, seen.node);
});

test('highWaterMark (which node:https leaves to the TLS socket) and req/res; setEncoding on the socket is refused; bytesWritten counts what is buffered', async () => {
  const seen = {};
  for (const [name, createServer] of both) {
    const s = createServer({ ...pki().serverOptions, highWaterMark: 32768 }, (req, res) => {
      let encodingError;
      try { req.socket.setEncoding('utf8'); } catch (err) { encodingError = err.code; }
      res.end('hello');
      seen[name] = { reqHighWaterMark: req.readableHighWaterMark, resHighWaterMark: res.writableHighWaterMark, encodingError, written: req.socket.bytesWritten > 0 };
    });
    const port = await listen(s, 0, '127.0.0.1');
    await within(request(port), 3000, `${name}: a request`);
    await close(s);
  }
  assert.deepEqual(seen.rhttps, seen.node);
  assert.equal(seen.node.encodingError, 'ERR_HTTP_SOCKET_ENCODING');
});

// Each response writes strings the way one application or another does: whole or in pieces, in
// each encoding ServerResponse passes through to its socket.
const STRING_BODIES = {
  '/utf8': (res) => res.end('h\u00e9llo \u20ac \ud83d\ude00'),
  '/latin1': (res) => res.end('caf\u00e9 \u00ff', 'latin1'),
  '/hex': (res) => { res.write('68c3a9', 'hex'); res.end('6c6c6f', 'hex'); },
  '/base64': (res) => res.end(Buffer.from('\u00e9t\u00e9 \u20ac').toString('base64'), 'base64'),
  '/chunked': (res) => { res.write('a\u20ac'); res.write('b', 'latin1'); res.write(Buffer.from('\u00e7')); res.end('\u00e7'); },
  '/latin1-header': (res) => { res.setHeader('X-Name', 'caf\u00e9'); res.end('\u20ac'); },
};

test('string bodies in utf8, latin1, hex and base64 reach the client byte for byte, and bytesWritten counts their bytes, as on node:https', async () => {
  const seen = {};
  for (const [name, createServer] of both) {
    // The engine writes from its own thread, so a client in this process may read a response
    // before the server's 'finish' (its write callbacks run in the next check phase): each
    // count is awaited, not assumed to be there.
    const written = {};
    const s = createServer(pki().serverOptions, (req, res) => {
      res.setHeader('Date', 'Thu, 01 Jan 1970 00:00:00 GMT');
      written[req.url] = new Promise((resolve) => res.on('finish', () => resolve(req.socket.bytesWritten)));
      STRING_BODIES[req.url](res);
    });
    const port = await listen(s, 0, '127.0.0.1');
    seen[name] = {};
    for (const path of Object.keys(STRING_BODIES)) {
      const r = await within(request(port, { path }), 3000, `${name}: ${path}`);
      const bytes = await within(written[path], 3000, `${name}: ${path} finishing`);
      seen[name][path] = { body: r.body.toString('hex'), header: r.headers['x-name'], written: bytes };
    }
    await close(s);
  }
  assert.equal(seen.node['/utf8'].body, Buffer.from('h\u00e9llo \u20ac \ud83d\ude00').toString('hex'), 'node:https reference');
  assert.deepEqual(seen.rhttps, seen.node);
});

test('closeIdleConnections() closes an idle keep-alive connection and leaves one whose request is half sent', async () => {
  const seen = {};
  for (const [name, createServer] of both) {
    const s = createServer({ ...pki().serverOptions, headersTimeout: 0, requestTimeout: 0 }, (req, res) => res.end('ok'));
    const port = await listen(s, 0, '127.0.0.1');
    const connect = () => new Promise((resolve) => {
      const c = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki().rootCert }, () => resolve(c));
      c.sawClose = false;
      c.on('close', () => { c.sawClose = true; });
      c.on('error', () => {});
    });
    const partial = await connect();
    partial.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const idle = await connect();
    await within(new Promise((resolve) => { idle.once('data', resolve); idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); }), 3000, `${name}: the keep-alive answer`);
    await new Promise((r) => setTimeout(r, 100));
    s.closeIdleConnections();
    await within(new Promise((resolve) => (idle.sawClose ? resolve() : idle.once('close', resolve))), 3000, `${name}: the idle connection closing`);
    await new Promise((r) => setTimeout(r, 200));
    seen[name] = { idleClosed: idle.sawClose, partialClosed: partial.sawClose };
    partial.destroy();
    await close(s);
  }
  assert.deepEqual(seen.node, { idleClosed: true, partialClosed: false }, 'node:https reference');
  assert.deepEqual(seen.rhttps, seen.node);
});

test('closeIdleConnections() from a response\'s \'finish\' closes that keep-alive connection at once, as on node:https (the engine hears of the finished response before it is asked)', async () => {
  const seen = {};
  for (const [name, createServer] of both) {
    const s = createServer(pki().serverOptions, (req, res) => {
      res.on('finish', () => s.closeIdleConnections());
      res.end('ok');
    });
    const port = await listen(s, 0, '127.0.0.1');
    const c = await new Promise((resolve) => {
      const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki().rootCert }, () => resolve(sock));
      sock.on('error', () => {});
    });
    c.resume(); // A socket nobody reads never sees the server's FIN.
    const closed = new Promise((resolve) => c.once('close', () => resolve(true)));
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    seen[name] = await Promise.race([closed, new Promise((r) => setTimeout(r, 1000, false))]);
    c.destroy();
    await close(s);
  }
  assert.equal(seen.node, true, 'node:https reference');
  assert.equal(seen.rhttps, seen.node);
});

test('the stand-in socket of a failed handshake says the handshake did not finish, as node:https does', async () => {
  const seen = {};
  for (const [name, createServer] of both) {
    const s = createServer({ ...pki().serverOptions, handshakeTimeout: 200 });
    const failed = new Promise((resolve) => s.once('tlsClientError', (err, socket) => resolve(socket._secureEstablished)));
    const port = await listen(s, 0, '127.0.0.1');
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    seen[name] = await within(failed, 3000, `${name}: tlsClientError`);
    c.destroy();
    await close(s);
  }
  assert.equal(seen.rhttps, seen.node);
});

test('req.socket is instanceof tls.TLSSocket and net.Socket over HTTPS, net.Socket over HTTP, as on Node', async () => {
  const http = require('node:http');
  const rhttpsHttp = require('../http');
  const kinds = (socket) => ({ tls: socket instanceof tls.TLSSocket, net: socket instanceof net.Socket });
  const seen = {};
  for (const [name, createHttps, createHttp] of [['node', https.createServer, http.createServer], ['rhttps', rhttps.createServer, rhttpsHttp.createServer]]) {
    let secure;
    let plain;
    const s = createHttps(pki().serverOptions, (req, res) => { secure = kinds(req.socket); res.end(); });
    const p = createHttp((req, res) => { plain = kinds(req.socket); res.end(); });
    const port = await listen(s, 0, '127.0.0.1');
    const plainPort = await listen(p, 0, '127.0.0.1');
    await within(request(port), 3000, `${name}: an HTTPS request`);
    await within(new Promise((resolve) => http.get({ host: '127.0.0.1', port: plainPort, agent: false }, (res) => { res.resume(); res.on('end', resolve); })), 3000, `${name}: an HTTP request`);
    await close(s);
    await close(p);
    seen[name] = { secure, plain };
  }
  assert.deepEqual(seen.node, { secure: { tls: true, net: true }, plain: { tls: false, net: true } });
  assert.deepEqual(seen.rhttps, seen.node);
});
