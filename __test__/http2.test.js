'use strict';
// HTTP/2 through ALPN with the same handler: genuine IncomingMessage/ServerResponse per
// stream, real clients (node:http2, curl, nghttp), the framework apps over both protocols.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const http2 = require('node:http2');
const https = require('node:https');
const tls = require('node:tls');
const crypto = require('node:crypto');
const { execFile } = require('node:child_process');
const rhttps = require('..');
const { pki, listen, close, request, within, until } = require('./helpers');
const { expressApp, expressCases, koaApp, koaCases, fastifyApp, fastifyCases } = require('./apps');

const h2Options = () => ({ ...pki().serverOptions, allowHTTP2: true });

function connect(port, options = {}) {
  const session = http2.connect(`https://localhost:${port}`, { ca: pki().rootCert, ...options });
  session.on('error', () => {});
  return session;
}

// One request on an HTTP/2 session; resolves with status, headers (no pseudo-headers), body
// and trailers.
function h2request(session, { method = 'GET', path = '/', headers = {} } = {}, body) {
  return within(new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': path, ...headers });
    const chunks = [];
    let response = null;
    let trailers = {};
    const informational = [];
    req.on('headers', (h) => informational.push(h[':status']));
    req.on('response', (h) => { response = h; });
    req.on('trailers', (t) => { trailers = { ...t }; });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { ':status': status, ...rest } = response;
      resolve({ status, headers: { ...rest }, body: Buffer.concat(chunks), trailers, informational });
    });
    req.on('error', reject);
    req.end(body);
  }), 10000, `${method} ${path} over h2`);
}

function curl(args) {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--cacert', `${pki().dir}/root.crt`, ...args], { encoding: 'buffer' },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

test('without ALPNProtocols or allowHTTP2 a client offering h2 gets HTTP/1.1, as from node:https', async () => {
  const handler = (req, res) => res.end(req.httpVersion);
  const servers = [rhttps.createServer(pki().serverOptions, handler), https.createServer(pki().serverOptions, handler)];
  const agreed = [];
  for (const server of servers) {
    const port = await listen(server, 0, '127.0.0.1');
    agreed.push(await new Promise((resolve) => {
      const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki().rootCert, ALPNProtocols: ['h2', 'http/1.1'] },
        () => { resolve(socket.alpnProtocol); socket.end(); });
      socket.on('error', () => {});
    }));
    await close(server);
  }
  assert.deepEqual(agreed, ['http/1.1', 'http/1.1']);
});

test('a client that negotiates h2 gets genuine Node req/res with HTTP/2 facts from the same handler', async () => {
  const seen = [];
  const server = rhttps.createServer(h2Options(), (req, res) => {
    seen.push({
      req: req instanceof http.IncomingMessage,
      res: res instanceof http.ServerResponse,
      version: [req.httpVersion, req.httpVersionMajor, req.httpVersionMinor],
      method: req.method,
      url: req.url,
      host: req.headers.host,
      pseudo: req.rawHeaders.some((h) => h.startsWith(':')),
      alpn: req.socket.alpnProtocol,
      encrypted: req.socket.encrypted,
      tlsSocket: req.socket instanceof tls.TLSSocket,
    });
    res.setHeader('Connection', 'keep-alive');
    res.writeHead(201, { 'X-Version': req.httpVersion });
    res.end('hello h2');
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    const answer = await h2request(session, { path: '/a/b?c=1', headers: { 'x-custom': 'v' } });
    assert.equal(answer.status, 201);
    assert.equal(answer.headers['x-version'], '2.0');
    assert.equal(answer.headers.connection, undefined, 'connection-specific headers are not sent');
    assert.equal(answer.headers['keep-alive'], undefined);
    assert.equal(answer.body.toString(), 'hello h2');
    assert.equal(session.alpnProtocol, 'h2');
    assert.deepEqual(seen, [{
      req: true, res: true, version: ['2.0', 2, 0], method: 'GET', url: '/a/b?c=1', host: `localhost:${port}`,
      pseudo: false, alpn: 'h2', encrypted: true, tlsSocket: true,
    }]);
    // The same server still speaks HTTP/1.1 to a client that asks for it.
    const h1 = await request(port, { path: '/x' });
    assert.equal(h1.headers['x-version'], '1.1');
  } finally {
    session.close();
    await close(server);
  }
});

test('ALPNProtocols listing h2 offers it, and ALPNCallback may choose it', async () => {
  for (const options of [{ ALPNProtocols: ['h2', 'http/1.1'] }, { ALPNCallback: ({ protocols }) => (protocols.includes('h2') ? 'h2' : undefined) }]) {
    const server = rhttps.createServer({ ...pki().serverOptions, ...options }, (req, res) => res.end(req.httpVersion));
    const port = await listen(server, 0, '127.0.0.1');
    const session = connect(port);
    try {
      assert.equal((await h2request(session)).body.toString(), '2.0', JSON.stringify(Object.keys(options)));
    } finally {
      session.close();
      await close(server);
    }
  }
});

test('HEAD, 204 and 304 end with the HEADERS frame; 1xx heads come before the final one; trailers both ways', async () => {
  const server = rhttps.createServer(h2Options(), (req, res) => {
    if (req.url === '/204') { res.writeHead(204); res.end(); return; }
    if (req.url === '/304') { res.writeHead(304, { ETag: '"x"' }); res.end(); return; }
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeProcessing();
      res.end('after hints');
      return;
    }
    if (req.url === '/trailers') {
      let n = 0;
      req.on('data', (d) => { n += d.length; });
      req.on('end', () => {
        res.writeHead(200, { Trailer: 'X-Sum' });
        res.write('body ');
        res.addTrailers({ 'X-Sum': String(n), 'X-Got': req.trailers['x-client'] || 'none' });
        res.end('done');
      });
      return;
    }
    res.end('a body a HEAD request does not get');
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    const head = await h2request(session, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal((await h2request(session, { path: '/204' })).status, 204);
    const notModified = await h2request(session, { path: '/304' });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.etag, '"x"');
    const hints = await h2request(session, { path: '/hints' });
    assert.deepEqual(hints.informational, [103, 102]);
    assert.equal(hints.body.toString(), 'after hints');

    const trailed = await within(new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/trailers' }, { waitForTrailers: true });
      req.on('wantTrailers', () => req.sendTrailers({ 'x-client': 'sent' }));
      let body = '';
      let trailers = null;
      req.on('data', (d) => { body += d; });
      req.on('trailers', (t) => { trailers = t; });
      req.on('end', () => resolve({ body, trailers }));
      req.on('error', reject);
      req.end('12345');
    }), 10000, 'the trailers exchange');
    assert.equal(trailed.body, 'body done');
    assert.equal(trailed.trailers['x-sum'], '5');
    assert.equal(trailed.trailers['x-got'], 'sent');
  } finally {
    session.close();
    await close(server);
  }
});

test('Expect: 100-continue over h2 gets a 100 head before the handler reads the body', async () => {
  const server = rhttps.createServer(h2Options(), (req, res) => {
    let n = 0;
    req.on('data', (d) => { n += d.length; });
    req.on('end', () => res.end(`got ${n}`));
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    const answer = await within(new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/', expect: '100-continue' });
      const informational = [];
      req.on('continue', () => { informational.push(100); req.end('body after continue'); });
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => resolve({ body, informational }));
      req.on('error', reject);
    }), 10000, 'the continue exchange');
    assert.deepEqual(answer.informational, [100]);
    assert.equal(answer.body, 'got 19');
  } finally {
    session.close();
    await close(server);
  }
});

test('100 concurrent streams on one connection are each answered', async () => {
  const server = rhttps.createServer(h2Options(), (req, res) => setTimeout(() => res.end(req.url), 5));
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  const connections = [];
  server.on('connection', (s) => connections.push(s));
  try {
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => h2request(session, { path: `/${i}` })));
    assert.deepEqual(answers.map((a) => a.body.toString()), Array.from({ length: 100 }, (_, i) => `/${i}`));
    assert.equal(connections.length, 1, 'one TCP connection, seen once as a connection');
  } finally {
    session.close();
    await close(server);
  }
});

test('8 MiB both ways with backpressure: res.write returns false and drain follows; a paused request stalls only its own stream', async () => {
  const size = 8 * 1024 * 1024;
  const payload = crypto.randomBytes(size);
  const digest = crypto.createHash('sha256').update(payload).digest('hex');
  let sawBackpressure = false;
  let pausedReq = null;
  const server = rhttps.createServer(h2Options(), (req, res) => {
    if (req.url === '/download') {
      let offset = 0;
      const pump = () => {
        while (offset < size) {
          const chunk = payload.subarray(offset, offset + 256 * 1024);
          offset += chunk.length;
          if (!res.write(chunk)) {
            sawBackpressure = true;
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.url === '/paused') {
      pausedReq = req;
      req.pause();
      req.on('end', () => res.end('paused one done'));
      req.resume = req.resume.bind(req);
      return;
    }
    const hash = crypto.createHash('sha256');
    req.on('data', (d) => hash.update(d));
    req.on('end', () => res.end(hash.digest('hex')));
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    // A stream whose handler does not read holds its window; the others go on.
    const paused = new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/paused' });
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end(Buffer.alloc(1024 * 1024));
    });
    const upload = await h2request(session, { method: 'POST', path: '/upload' }, payload);
    assert.equal(upload.body.toString(), digest);
    const download = await h2request(session, { path: '/download' });
    assert.equal(download.body.length, size);
    assert.equal(crypto.createHash('sha256').update(download.body).digest('hex'), digest);
    assert.ok(sawBackpressure, 'res.write() returned false at least once');
    await until(() => pausedReq !== null, 5000, 'the paused request');
    pausedReq.resume();
    assert.equal(await within(paused, 10000, 'the paused stream after resume'), 'paused one done');
  } finally {
    session.close();
    await close(server);
  }
});

test('destroying a stream\'s socket resets that stream only', async () => {
  const server = rhttps.createServer(h2Options(), (req, res) => {
    if (req.url === '/kill') req.socket.destroy();
    else res.end('alive');
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    const killed = await within(new Promise((resolve) => {
      const req = session.request({ ':path': '/kill' });
      req.on('close', () => resolve(req.rstCode));
      req.on('error', () => {});
      req.resume();
      req.end();
    }), 10000, 'the reset');
    assert.equal(killed, http2.constants.NGHTTP2_CANCEL);
    assert.equal((await h2request(session, { path: '/other' })).body.toString(), 'alive');
    assert.equal(session.destroyed, false);
  } finally {
    session.close();
    await close(server);
  }
});

test('a client resetting a stream aborts its request and closes its response; the connection goes on', async () => {
  const events = [];
  let resolveClosed;
  const closed = new Promise((r) => { resolveClosed = r; });
  let started = false;
  const server = rhttps.createServer(h2Options(), (req, res) => {
    if (req.url !== '/hang') { res.end('fresh'); return; }
    started = true;
    req.on('aborted', () => events.push('aborted'));
    res.on('close', () => { events.push('res close'); resolveClosed(); });
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    const req = session.request({ ':method': 'POST', ':path': '/hang' });
    req.on('error', () => {});
    req.write('part');
    await until(() => started, 5000, 'the handler');
    req.close(http2.constants.NGHTTP2_CANCEL);
    await within(closed, 5000, 'the response closing');
    assert.deepEqual(events, ['aborted', 'res close']);
    assert.equal((await h2request(session, { path: '/next' })).body.toString(), 'fresh');
  } finally {
    session.close();
    await close(server);
  }
});

test('close() sends GOAWAY and lets open streams finish; closeAllConnections() ends h2 connections', async () => {
  let release;
  const server = rhttps.createServer(h2Options(), (req, res) => {
    if (req.url === '/slow') release = () => res.end('finished after close');
    else res.end('quick');
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  const goaway = new Promise((resolve) => session.once('goaway', resolve));
  const slow = h2request(session, { path: '/slow' });
  await until(() => release !== undefined, 5000, 'the slow handler');
  const closed = new Promise((resolve) => server.close(resolve));
  await within(goaway, 5000, 'GOAWAY after close()');
  release();
  assert.equal((await slow).body.toString(), 'finished after close');
  await within(closed, 5000, 'the server closing once the stream finished');

  let handled = false;
  const again = rhttps.createServer(h2Options(), () => { handled = true; });
  const port2 = await listen(again, 0, '127.0.0.1');
  const s2 = connect(port2);
  const stuck = s2.request({ ':path': '/' });
  stuck.on('error', () => {});
  await until(() => handled, 5000, 'the handler that never answers');
  const sessionClosed = new Promise((resolve) => s2.once('close', resolve));
  again.closeAllConnections();
  await within(sessionClosed, 5000, 'the session closing');
  await within(close(again), 5000, 'the server closing');
});

test('an h2 connection with no open stream gets GOAWAY after keepAliveTimeout, and closeIdleConnections() closes it', async () => {
  const server = rhttps.createServer({ ...h2Options(), keepAliveTimeout: 300 }, (req, res) => res.end('ok'));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const session = connect(port);
    await h2request(session);
    const started = Date.now();
    await within(new Promise((resolve) => session.once('close', resolve)), 5000, 'the idle session closing');
    assert.ok(Date.now() - started >= 200, 'not before the keep-alive timeout');

    const idle = connect(port);
    await h2request(idle);
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    server.closeIdleConnections();
    await within(idleClosed, 2000, 'closeIdleConnections closing the idle session');
  } finally {
    await close(server);
  }
});

test('curl --http2 and nghttp fetch from the same handler', async (t) => {
  const server = rhttps.createServer(h2Options(), (req, res) => res.end(`${req.httpVersion} ${req.method} ${req.url}`));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const viaCurl = await curl(['--http2', '-w', ' %{http_version}', `https://localhost:${port}/curl`]);
    assert.equal(viaCurl.toString(), '2.0 GET /curl 2');
    const hasNghttp = await new Promise((resolve) => execFile('nghttp', ['--version'], (err) => resolve(!err)));
    if (!hasNghttp) {
      if (process.env.RHTTPS_REQUIRE_NGHTTP) assert.fail('nghttp is required (RHTTPS_REQUIRE_NGHTTP) but not installed');
      t.diagnostic('nghttp not installed (Debian nghttp2-client)');
      return;
    }
    const viaNghttp = await new Promise((resolve, reject) => execFile('nghttp', ['-n', '-s', '-v', `https://localhost:${port}/nghttp`],
      (err, stdout) => (err ? reject(err) : resolve(stdout))));
    assert.match(viaNghttp, /:status: 200/);
    const body = await new Promise((resolve, reject) => execFile('nghttp', [`https://localhost:${port}/nghttp`],
      (err, stdout) => (err ? reject(err) : resolve(stdout))));
    assert.equal(body, '2.0 GET /nghttp');
  } finally {
    await close(server);
  }
});

// The same app answers the same over HTTP/1.1 and HTTP/2 (less the connection-specific
// headers HTTP/2 does not carry, and Date).
async function bothProtocols(server, cases) {
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  const hopByHop = ['connection', 'keep-alive', 'transfer-encoding', 'date'];
  const strip = (headers) => Object.fromEntries(Object.entries(headers).filter(([k]) => !hopByHop.includes(k)));
  try {
    for (const c of cases) {
      const { body, ...opts } = c;
      const label = `${c.method || 'GET'} ${c.path}`;
      const h1 = await request(port, opts, body);
      const h2 = await h2request(session, { method: c.method, path: c.path, headers: c.headers }, body);
      assert.equal(h2.status, h1.status, label);
      assert.deepEqual(strip(h2.headers), strip(h1.headers), label);
      assert.ok(h2.body.equals(h1.body), `${label}: body differs`);
    }
  } finally {
    session.close();
    await close(server);
  }
}

for (const [name, mod] of [['Express 5', 'express'], ['Express 4', 'express4']]) {
  test(`${name}, unmodified, answers the same over HTTP/1.1 and HTTP/2`, async () => {
    const app = expressApp(require(mod));
    await bothProtocols(rhttps.createServer(h2Options(), app), expressCases);
  });
}

test('Koa answers the same over HTTP/1.1 and HTTP/2', async () => {
  await bothProtocols(rhttps.createServer(h2Options(), koaApp()), koaCases);
});

test('Fastify answers the same over HTTP/1.1 and HTTP/2', async () => {
  let server;
  const app = fastifyApp((handler) => { server = rhttps.createServer(h2Options(), handler); return server; });
  await app.ready();
  await bothProtocols(server, fastifyCases);
});

test('regression: requestTimeout runs per stream, and the 408 reaches the client before the reset that follows (an explicit reset discarded it), while other streams are served', async () => {
  const server = rhttps.createServer({ ...h2Options(), requestTimeout: 500, headersTimeout: 500 }, (req, res) => {
    if (req.url === '/quick') { res.end('quick'); return; }
    req.resume();
    req.on('end', () => res.end('never: the body does not end'));
  });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    const stalled = within(new Promise((resolve) => {
      const req = session.request({ ':method': 'POST', ':path': '/stall' });
      req.on('response', (h) => resolve(h[':status']));
      req.on('error', () => {});
      req.on('close', () => resolve('closed without a response'));
      req.write('part of a body');
    }), 5000, 'the stalled stream');
    assert.equal((await h2request(session, { path: '/quick' })).body.toString(), 'quick');
    assert.equal(await stalled, 408);
    assert.equal((await h2request(session, { path: '/quick' })).body.toString(), 'quick', 'the connection goes on');
  } finally {
    session.close();
    await close(server);
  }
});

test('maxHeaderSize bounds an h2 header list: a larger one never reaches the handler, the connection goes on', async () => {
  const urls = [];
  const server = rhttps.createServer({ ...h2Options(), maxHeaderSize: 4096 }, (req, res) => { urls.push(req.url); res.end('ok'); });
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    const refused = await h2request(session, { path: '/big', headers: { 'x-big': 'a'.repeat(8000) } })
      .then((a) => a.status, (err) => err.code);
    assert.notEqual(refused, 200, 'an oversized header list is refused');
    assert.equal((await h2request(session, { path: '/small' })).status, 200);
    assert.deepEqual(urls, ['/small']);
  } finally {
    session.close();
    await close(server);
  }
});

test('WebSocket stays on HTTP/1.1: no extended CONNECT is advertised, and wss:// works on an h2 server', async () => {
  const WebSocket = require('ws');
  const server = rhttps.createServer(h2Options(), (req, res) => res.end('page'));
  const wss = new WebSocket.Server({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo ${m}`)));
  const port = await listen(server, 0, '127.0.0.1');
  const session = connect(port);
  try {
    await h2request(session);
    assert.equal(session.remoteSettings.enableConnectProtocol, false);
    const ws = new WebSocket(`wss://localhost:${port}/`, { ca: pki().rootCert });
    const echoed = await within(new Promise((resolve, reject) => {
      ws.on('open', () => ws.send('hi'));
      ws.on('message', (m) => resolve(String(m)));
      ws.on('error', reject);
    }), 5000, 'the WebSocket echo');
    assert.equal(echoed, 'echo hi');
    ws.close();
  } finally {
    session.close();
    wss.close();
    await close(server);
  }
});

test('an HTTP/2 request without :authority is served (node:http2 does not require it); its host header is absent', async () => {
  const { connectRaw, frame, literal, TYPE, FLAG } = require('./attacks/h2-raw-client');
  const server = rhttps.createServer(h2Options(), (req, res) => res.end(`host ${req.headers.host}`));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const raw = await connectRaw(port);
    const block = Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'https'), literal(':path', '/')]);
    raw.send(frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, block));
    await until(() => raw.frames.some((f) => f.type === TYPE.DATA && f.payload.length > 0), 5000, 'the answer');
    const data = raw.frames.filter((f) => f.type === TYPE.DATA).map((f) => f.payload.toString()).join('');
    assert.equal(data, 'host undefined');
    raw.socket.destroy();
  } finally {
    await close(server);
  }
});
