'use strict';
// Requests and responses over real TLS connections: genuine Node objects, Node's framing
// and header rules, keep-alive, pipelining, bodies and backpressure.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const https = require('node:https');
const tls = require('node:tls');
const rhttps = require('..');
const { pki, listen, close, withServer, request, rawTls } = require('./helpers');

test('req and res are genuine IncomingMessage and ServerResponse instances', async () => {
  let seen;
  await withServer((req, res) => {
    seen = {
      req: req instanceof http.IncomingMessage,
      res: res instanceof http.ServerResponse,
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      encrypted: req.socket.encrypted,
      same: req.socket === req.connection && res.socket === req.socket,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      localAddress: req.socket.localAddress,
      localPort: req.socket.localPort,
      protocol: req.socket.getProtocol(),
    };
    res.end('ok');
  }, async (port) => {
    const r = await rawTls(port,
      'GET /a%20b/../c?x=1&y=%7E HTTP/1.1\r\nHost: localhost\r\nX-Multi: one\r\nx-multi: two\r\n' +
      'Cookie: a=1\r\nCookie: b=2\r\nContent-Type: text/plain\r\ncontent-type: ignored\r\nConnection: close\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(seen.req, true);
    assert.equal(seen.res, true);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.url, '/a%20b/../c?x=1&y=%7E', 'the raw request-target, unchanged');
    assert.equal(seen.httpVersion, '1.1');
    // Node's folding: duplicates joined with ', ', cookies with '; ', singletons keep the first.
    assert.equal(seen.headers['x-multi'], 'one, two');
    assert.equal(seen.headers.cookie, 'a=1; b=2');
    assert.equal(seen.headers['content-type'], 'text/plain');
    assert.deepEqual(seen.rawHeaders.slice(0, 6), ['Host', 'localhost', 'X-Multi', 'one', 'x-multi', 'two']);
    assert.equal(seen.encrypted, true);
    assert.equal(seen.same, true);
    assert.equal(seen.remoteAddress, '127.0.0.1');
    assert.equal(typeof seen.remotePort, 'number');
    assert.equal(seen.localAddress, '127.0.0.1');
    assert.equal(seen.localPort, port);
    assert.equal(seen.protocol, 'TLSv1.3');
  });
});

test('response bytes match node:https for the same handler', async () => {
  const handler = (req, res) => {
    res.setHeader('X-Custom-Case', 'Value');
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    if (req.url === '/chunked') {
      res.write('part1,');
      res.end('part2');
    } else if (req.url === '/head') {
      res.end('body that HEAD must not carry');
    } else if (req.url === '/204') {
      res.statusCode = 204;
      res.end();
    } else if (req.url === '/304') {
      res.writeHead(304, { ETag: '"x"' });
      res.end();
    } else {
      res.writeHead(201, 'Made', { 'Content-Type': 'text/plain' });
      res.end('created');
    }
  };
  const requests = [
    'GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /chunked HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'HEAD /head HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /204 HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /304 HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'GET /plain HTTP/1.0\r\n\r\n',
  ];
  const node = https.createServer(pki().serverOptions, handler);
  const nodePort = await listen(node, 0, '127.0.0.1');
  try {
    await withServer(handler, async (port) => {
      for (const raw of requests) {
        const withClose = raw.replace('\r\n\r\n', raw.includes('HTTP/1.0') ? '\r\n\r\n' : '\r\nConnection: close\r\n\r\n');
        const ours = await rawTls(port, withClose);
        const theirs = await rawTls(nodePort, withClose);
        const strip = (t) => t.replace(/Date: [^\r]+\r\n/, '');
        assert.equal(strip(ours.text), strip(theirs.text), `differs for ${raw.split('\r\n')[0]}`);
        assert.ok(ours.closed);
      }
    });
  } finally {
    await close(node);
  }
});

test('keep-alive reuses one connection for many requests', async () => {
  const connections = new Set();
  await withServer((req, res) => {
    connections.add(req.socket);
    res.end(`n=${connections.size}`);
  }, async (port) => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) {
      const r = await request(port, { agent, path: `/${i}` });
      assert.equal(r.status, 200);
      assert.equal(r.headers.connection, 'keep-alive');
      assert.equal(r.headers['keep-alive'], 'timeout=5');
    }
    agent.destroy();
    assert.equal(connections.size, 1);
  });
});

test('pipelined requests are answered in order even when handlers finish out of order', async () => {
  await withServer((req, res) => {
    const delay = req.url === '/slow' ? 100 : 0;
    setTimeout(() => res.end(`body of ${req.url}`), delay);
  }, async (port) => {
    const r = await rawTls(port,
      'GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n' +
      'GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n' +
      'GET /last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    const order = [...r.text.matchAll(/body of (\/[a-z]+)/g)].map((m) => m[1]);
    assert.deepEqual(order, ['/slow', '/fast', '/last']);
    assert.ok(r.closed);
  });
});

test('a 1 MiB request body is streamed in and echoed back', async () => {
  const body = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
  let chunks = 0;
  await withServer((req, res) => {
    req.on('data', () => chunks++);
    res.setHeader('Content-Type', 'application/octet-stream');
    req.pipe(res);
  }, async (port) => {
    const r = await request(port, { method: 'POST', path: '/echo' }, body);
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.ok(r.body.equals(body), 'echo must be byte-identical');
    assert.ok(chunks > 1, 'the body arrives in several chunks, not buffered whole');
  });
});

test('chunked request bodies and trailers reach req', async () => {
  let seen;
  await withServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { text += d; });
    req.on('end', () => {
      seen = { text, trailers: req.trailers, complete: req.complete };
      res.end('done');
    });
  }, async (port) => {
    const r = await rawTls(port,
      'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      '3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Check: 7\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 200/);
    assert.deepEqual(seen, { text: 'abcdefg', trailers: { 'x-check': '7' }, complete: true });
  });
});

test('res.write returns false under backpressure and drain follows', async () => {
  let sawFalse = false;
  let drains = 0;
  await withServer((req, res) => {
    const chunk = Buffer.alloc(256 * 1024, 120);
    let sent = 0;
    const pump = () => {
      while (sent < 32) {
        sent++;
        if (!res.write(chunk)) {
          sawFalse = true;
          res.once('drain', () => { drains++; pump(); });
          return;
        }
      }
      res.end();
    };
    pump();
  }, async (port) => {
    const r = await request(port, { path: '/big' });
    assert.equal(r.body.length, 32 * 256 * 1024);
  });
  assert.ok(sawFalse, 'write must report backpressure');
  assert.ok(drains > 0, 'drain must follow');
});

test('a paused request stops reading from the client until resumed', async () => {
  const total = 32 * 1024 * 1024;
  let readWhilePaused = -1;
  await withServer((req, res) => {
    req.pause();
    setTimeout(() => {
      readWhilePaused = req.socket.bytesRead;
      let got = 0;
      req.on('data', (d) => { got += d.length; });
      req.on('end', () => res.end(String(got)));
      req.resume();
    }, 500);
  }, async (port) => {
    const r = await new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', servername: 'localhost', port, ca: pki().rootCert, method: 'POST', agent: false,
        headers: { 'content-length': total } }, (res) => {
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024);
      let n = 0;
      const write = () => {
        while (n < 32) {
          n++;
          if (!req.write(chunk)) return req.once('drain', write);
        }
        req.end();
      };
      write();
    });
    assert.equal(r, String(total));
  });
  assert.ok(readWhilePaused >= 0 && readWhilePaused < 8 * 1024 * 1024,
    `while paused the server took only a bounded amount (${readWhilePaused} bytes)`);
});

test('a client going away mid-body aborts the request and closes the response', async () => {
  const events = [];
  let done;
  const finished = new Promise((r) => { done = r; });
  await withServer((req, res) => {
    req.on('aborted', () => events.push('req aborted'));
    req.on('close', () => events.push('req close'));
    res.on('close', () => { events.push('res close'); done(); });
    req.on('data', () => {});
    req.on('error', () => {});
  }, async (port) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki().rootCert }, () => {
      sock.write('POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly ten b');
      setTimeout(() => sock.destroy(), 100);
    });
    sock.on('error', () => {});
    await finished;
  });
  assert.ok(events.includes('req aborted'), events.join());
  assert.ok(events.includes('req close'), events.join());
  assert.ok(events.includes('res close'), events.join());
});

test('HTTP/1.1 without Host is a 400, as on Node', async () => {
  await withServer(() => assert.fail('handler must not run'), async (port) => {
    const r = await rawTls(port, 'GET / HTTP/1.1\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
  });
});

test('a malformed request gets 400 and clientError carries the llhttp code', async () => {
  const server = rhttps.createServer(pki().serverOptions, () => assert.fail('no request'));
  let seen;
  server.on('clientError', (err, socket) => {
    seen = { code: err.code, raw: Buffer.isBuffer(err.rawPacket) };
    socket.end('HTTP/1.1 400 Bad Request\r\nX-From: handler\r\n\r\n');
  });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const r = await rawTls(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
    assert.match(r.text, /X-From: handler/);
    assert.deepEqual(seen, { code: 'HPE_INVALID_HEADER_TOKEN', raw: true });
  } finally {
    await close(server);
  }
});

test('Expect: 100-continue is answered before the body is sent', async () => {
  await withServer((req, res) => {
    let n = 0;
    req.on('data', (d) => { n += d.length; });
    req.on('end', () => res.end(`got ${n}`));
  }, async (port) => {
    const r = await new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', servername: 'localhost', port, ca: pki().rootCert, method: 'PUT', agent: false,
        headers: { expect: '100-continue', 'content-length': 5 } }, (res) => {
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve(b));
      });
      req.on('continue', () => req.end('12345'));
      req.on('error', reject);
    });
    assert.equal(r, 'got 5');
  });
});

test('fetch (undici) and curl talk to the server', async () => {
  const { execFile } = require('node:child_process');
  const { runScript } = require('./helpers');
  await withServer((req, res) => res.end(`hello ${req.headers['user-agent'].split('/')[0]}`), async (port) => {
    const curl = await new Promise((resolve, reject) => {
      execFile('curl', ['-sS', '--cacert', `${pki().dir}/root.crt`, `https://localhost:${port}/`], (err, out) => (err ? reject(err) : resolve(out)));
    });
    assert.equal(curl, 'hello curl');
    const child = await runScript(
      `fetch('https://localhost:${port}/').then(r => r.text()).then(t => console.log(t), e => { console.error(e); process.exit(1); })`,
      { env: { NODE_EXTRA_CA_CERTS: `${pki().dir}/root.crt` } });
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.stdout.trim(), 'hello node');
  });
});

test('invalid header names and values from the application throw Node\'s errors synchronously', async () => {
  const codes = [];
  await withServer((req, res) => {
    for (const bad of [() => res.setHeader('X-Bad', 'a\r\nInjected: 1'), () => res.setHeader('Bad Name', 'x'), () => res.writeHead(1000)]) {
      try { bad(); } catch (e) { codes.push(e.code); }
    }
    res.end('still answered');
  }, async (port) => {
    const r = await request(port);
    assert.equal(r.body.toString(), 'still answered');
    assert.equal(r.headers.injected, undefined, 'no header injection');
  });
  assert.deepEqual(codes, ['ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_HTTP_INVALID_STATUS_CODE']);
});

test('regression: backpressure on the last body chunk stalled the next request on the connection', async () => {
  const body = Buffer.alloc(1024 * 1024, 7);
  await withServer((req, res) => req.pipe(res), async (port) => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 5; i++) {
        const r = await Promise.race([
          request(port, { method: 'POST', agent }, body),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`request ${i} stalled`)), 3000)),
        ]);
        assert.equal(r.body.length, body.length);
      }
    } finally {
      agent.destroy();
    }
  });
});

test('regression: a throwing write callback on one connection stranded another connection\'s response', async () => {
  const errors = [];
  const onError = (err) => errors.push(err.message);
  const runnerListeners = process.listeners('uncaughtException');
  for (const l of runnerListeners) process.removeListener('uncaughtException', l);
  process.on('uncaughtException', onError);
  const held = {};
  try {
    await withServer((req, res) => {
      if (req.url === '/after') return res.end('after');
      held[req.url] = res;
      if (held['/throw'] && held['/other']) {
        // Both responses complete in the same turn, so their write callbacks share a batch.
        setTimeout(() => {
          held['/throw'].write('x', () => { throw new Error('callback boom'); });
          held['/throw'].end();
          held['/other'].end('other');
        }, 10);
      }
    }, async (port) => {
      const a = new https.Agent({ keepAlive: true, maxSockets: 1 });
      const b = new https.Agent({ keepAlive: true, maxSockets: 1 });
      const within = (p, what) => Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} stalled`)), 3000))]);
      await Promise.all([request(port, { path: '/throw', agent: a }), request(port, { path: '/other', agent: b })]);
      // Connection b's response must have finished server-side: its next request is served.
      const next = await within(request(port, { path: '/after', agent: b }), '/after on the other connection');
      assert.equal(next.body.toString(), 'after');
      a.destroy();
      b.destroy();
    });
  } finally {
    process.removeListener('uncaughtException', onError);
    for (const l of runnerListeners) process.on('uncaughtException', l);
  }
  assert.ok(errors.includes('callback boom'));
});
