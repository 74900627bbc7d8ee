'use strict';
// Behaviours Node's own http/https tests pin down, each run against node:http(s) and rhttps in
// the same test over real sockets, and the two results compared.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const tls = require('node:tls');
const http = require('node:http');
const https = require('node:https');
const { execFileSync } = require('node:child_process');
const rhttps = require('..');
const rhttp = require('../http');
const { pki, listen, close, within } = require('./helpers');

// What a server reports when a raw client sends `payload` and then its FIN.
async function eventsAfterFin(mod, payload) {
  const seen = [];
  const server = mod.createServer((req, res) => {
    seen.push(`request ${req.method}`);
    req.on('aborted', () => seen.push('aborted'));
    req.on('error', (e) => seen.push(`request error ${e.code}`));
    req.resume();
  });
  server.on('clientError', (err, socket) => {
    seen.push(`clientError ${err.code} "${err.message}" reason=${err.reason} bytesParsed=${err.bytesParsed} rawPacket=${err.rawPacket}`);
    socket.destroy();
  });
  const port = await listen(server, 0, '127.0.0.1');
  await within(new Promise((resolve) => {
    const client = net.connect(port, '127.0.0.1', () => client.end(payload));
    client.on('data', (d) => seen.push(`answered ${d.toString('latin1').split('\r\n')[0]}`));
    client.on('error', () => {});
    client.on('close', resolve);
  }), 5000, 'the client connection to close');
  await close(server);
  return seen;
}

for (const [what, payload] of [
  ['inside a request head', 'GET / HTTP/1.1\r\nContent-Length:'],
  ['inside a request line', 'GE'],
  ['before a Content-Length body is complete', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc'],
  ['inside a chunked body', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
]) {
  test(`a client FIN ${what} is clientError HPE_INVALID_EOF_STATE, as on node:http`, async () => {
    const theirs = await eventsAfterFin(http, payload);
    assert.ok(theirs.some((e) => e.startsWith('clientError HPE_INVALID_EOF_STATE')), theirs.join('\n'));
    assert.deepEqual(await eventsAfterFin(rhttp, payload), theirs);
  });
}

test('a FIN after a complete request is no client error, as on node:http', async () => {
  const payload = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc';
  const theirs = await eventsAfterFin(http, payload);
  assert.deepEqual(theirs, ['request POST']);
  assert.deepEqual(await eventsAfterFin(rhttp, payload), theirs);
});

test('regression: a FIN after a request and a spare line break was taken for a head cut short', async () => {
  const payload = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n';
  const theirs = await eventsAfterFin(http, payload);
  assert.deepEqual(theirs, ['request GET']);
  assert.deepEqual(await eventsAfterFin(rhttp, payload), theirs);
});

// The listeners a CONNECT socket carries when the 'connect' listener gets it.
async function connectSocketListeners(mod) {
  const server = mod.createServer();
  const port = await listen(server, 0, '127.0.0.1');
  const names = ['close', 'drain', 'data', 'end', 'error', 'timeout'];
  const seen = await within(new Promise((resolve) => {
    server.on('connect', (req, socket) => {
      resolve(Object.fromEntries(names.map((n) => [n, socket.listeners(n).map((f) => f.name)])));
      socket.destroy();
    });
    http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: 'example.com:443' }).on('error', () => {}).end();
  }), 5000, 'the connect event');
  await close(server);
  return seen;
}

test('a socket handed to the connect listener carries only net.Socket\'s own end listener, as on node:http', async () => {
  const theirs = await connectSocketListeners(http);
  assert.deepEqual(theirs.end, ['onReadableStreamEnd']);
  assert.deepEqual(await connectSocketListeners(rhttp), theirs);
});

test('secureProtocol is refused or pins a version with node:tls\'s codes and messages', () => {
  const { serverOptions } = pki();
  const outcome = (fn) => {
    try {
      fn();
      return 'accepted';
    } catch (e) {
      return `${e.name} ${e.code}: ${e.message}`;
    }
  };
  for (const extra of [
    { secureProtocol: 'TLSv1_2_method' },
    { secureProtocol: 'TLS_server_method' },
    { secureProtocol: 'SSLv23_method' },
    { secureProtocol: 'SSLv3_method' },
    { secureProtocol: 'SSLv2_server_method' },
    { secureProtocol: 'TLSv1_3_method' },
    { secureProtocol: 'Nonsense' },
    { secureProtocol: 'TLS_method', minVersion: 'TLSv1.2' },
    { secureProtocol: 'TLSv1_2_method', maxVersion: 'TLSv1.3' },
  ]) {
    const options = { ...serverOptions, ...extra };
    const theirs = outcome(() => https.createServer(options));
    assert.equal(outcome(() => rhttps.createServer(options).close()), theirs, JSON.stringify(extra));
  }
});

test('secureProtocol TLSv1_2_method serves TLS 1.2 to a client that offers 1.3, as node:https does', async () => {
  const { serverOptions, rootCert } = pki();
  for (const mod of [https, rhttps]) {
    const server = mod.createServer({ ...serverOptions, secureProtocol: 'TLSv1_2_method' }, (req, res) => res.end(req.socket.getProtocol()));
    const port = await listen(server, 0, '127.0.0.1');
    const version = await within(new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, servername: 'localhost', ca: rootCert, agent: false, maxVersion: 'TLSv1.3' }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve([res.socket.getProtocol(), body]));
      }).on('error', reject);
    }), 5000, 'a request');
    await close(server);
    assert.deepEqual(version, ['TLSv1.2', 'TLSv1.2'], mod === https ? 'node:https' : 'rhttps');
  }
});

test('requestCert without ca checks client certificates against Node\'s bundled roots: a self-signed CA certificate is DEPTH_ZERO_SELF_SIGNED_CERT', async () => {
  const { leafKey, leafCert, intCert, rootCert, dir } = pki();
  // `req -x509` marks the certificate CA:TRUE, as the PKCS#12 fixture in Node's test does.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'selfclient.key', '-out', 'selfclient.crt', '-subj', '/CN=self', '-days', '2'], { cwd: dir, stdio: 'pipe' });
  const client = { key: fs.readFileSync(path.join(dir, 'selfclient.key')), cert: fs.readFileSync(path.join(dir, 'selfclient.crt')) };
  const results = [];
  for (const mod of [https, rhttps]) {
    // The server's chain goes in `cert`: `ca` would be the roots client certificates need.
    const server = mod.createServer({ key: leafKey, cert: Buffer.concat([leafCert, intCert]), requestCert: true, rejectUnauthorized: false },
      (req, res) => res.end(`${req.socket.authorized} ${req.socket.authorizationError}`));
    const port = await listen(server, 0, '127.0.0.1');
    try {
      results.push(await within(new Promise((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: rootCert, ...client }, () => {
          sock.end('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
        });
        let text = '';
        sock.on('data', (d) => { text += d; });
        sock.on('end', () => resolve(text.split('\r\n\r\n')[1]));
        sock.on('error', reject);
      }), 5000, 'a request with a client certificate'));
    } finally {
      await close(server);
    }
  }
  assert.deepEqual(results, ['false DEPTH_ZERO_SELF_SIGNED_CERT', 'false DEPTH_ZERO_SELF_SIGNED_CERT']);
});

// The key-log labels a server emits for a full TLS 1.3 handshake and then a resumed one.
async function keylogLabels(mod) {
  const { serverOptions, rootCert } = pki();
  const server = mod.createServer({ ...serverOptions, minVersion: 'TLSv1.3' }, (req, res) => res.end());
  const labels = [];
  server.on('keylog', (line) => labels.push(line.toString().split(' ')[0]));
  const port = await listen(server, 0, '127.0.0.1');
  try {
    let session;
    for (const round of ['full', 'resumed']) {
      labels.push(`-- ${round}`);
      const reused = await within(new Promise((resolve, reject) => {
        let resumed;
        const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: rootCert, session }, () => {
          resumed = sock.isSessionReused();
          sock.end('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
        });
        sock.on('session', (s) => { session = s; });
        sock.on('data', () => {});
        sock.on('close', () => resolve(resumed));
        sock.on('error', reject);
      }), 5000, `a ${round} handshake`);
      assert.equal(reused, round === 'resumed');
    }
  } finally {
    await close(server);
  }
  return labels;
}

test('regression: a resumed TLS 1.3 handshake logged CLIENT_EARLY_TRAFFIC_SECRET, which node:https logs only for early data', async () => {
  const sorted = (labels) => labels.join(' ').split('-- ').map((round) => round.trim().split(' ').sort().join(' '));
  const theirs = sorted(await keylogLabels(https));
  assert.equal(theirs.length, 3);
  assert.deepEqual(sorted(await keylogLabels(rhttps)), theirs);
});

// Whether the end of the response dumped a request body the handler was reading (and paused).
async function dumpedWhileReading(mod, separateBody) {
  const server = mod.createServer((req, res) => {
    req.once('data', () => {
      req.pause();
      res.end('ok');
      res.on('finish', () => done(req._dumped));
    });
  });
  let done;
  const verdict = new Promise((resolve) => { done = resolve; });
  const port = await listen(server, 0, '127.0.0.1');
  const head = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n';
  const client = net.connect(port, '127.0.0.1', () => {
    if (separateBody) {
      client.write(head);
      setTimeout(() => client.write('hello'), 50);
    } else {
      client.write(`${head}hello`);
    }
  });
  client.on('error', () => {});
  try {
    return await within(verdict, 5000, 'the response to finish');
  } finally {
    client.destroy();
    await close(server);
  }
}

test('regression: a body that came with its head was dumped at the end of the response though the handler was reading it', async () => {
  assert.equal(await dumpedWhileReading(http, true), false, 'node:http, body after the head');
  assert.equal(await dumpedWhileReading(rhttp, true), false, 'rhttps, body after the head');
  assert.equal(await dumpedWhileReading(rhttp, false), false, 'rhttps, body with the head');
});

// For a full handshake and then one resumed with its ticket: [resumed?, tickets received].
async function ticketsPerHandshake(mod, version) {
  const { serverOptions, rootCert } = pki();
  const server = mod.createServer(serverOptions, (req, res) => res.end());
  const port = await listen(server, 0, '127.0.0.1');
  const rounds = [];
  try {
    let session;
    for (let i = 0; i < 2; i++) {
      rounds.push(await within(new Promise((resolve, reject) => {
        let tickets = 0;
        let resumed;
        const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: rootCert, session, maxVersion: version, minVersion: version }, () => {
          resumed = sock.isSessionReused();
          sock.end('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
        });
        sock.on('session', (s) => { session = s; tickets++; });
        sock.on('data', () => {});
        sock.on('close', () => resolve([resumed, tickets]));
        sock.on('error', reject);
      }), 5000, 'a handshake'));
    }
  } finally {
    await close(server);
  }
  return rounds;
}

for (const version of ['TLSv1.3', 'TLSv1.2']) {
  test(`a ${version} session resumed from its ticket gets no new ticket, as on node:https`, async () => {
    const theirs = await ticketsPerHandshake(https, version);
    assert.equal(theirs[1][0], true, 'node:https resumes');
    assert.deepEqual(await ticketsPerHandshake(rhttps, version), theirs);
  });
}

// Two in-memory Duplex streams, each one's writes the other's reads.
function streamPair() {
  const { Duplex } = require('node:stream');
  const make = () => new Duplex({
    read() {},
    write(chunk, encoding, cb) { this.peer.push(chunk); cb(); },
    final(cb) { this.peer.push(null); cb(); },
  });
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

// Two keep-alive requests over a stream handed to `server` with emit('connection').
async function overAdoptedDuplex(mod) {
  const server = mod.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => res.end(`${req.method} ${req.url} ${body}`));
  });
  const [clientSide, serverSide] = streamPair();
  server.emit('connection', serverSide);
  const ask = (method, path, body) => within(new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => clientSide, method, path, headers: { connection: 'keep-alive' } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('error', reject);
    req.end(body);
  }), 5000, `${method} ${path}`);
  const answers = [await ask('GET', '/one'), await ask('POST', '/two', 'payload')];
  clientSide.destroy();
  return answers;
}

test('a Duplex handed over with emit(\'connection\') is served, keep-alive included, as on node:http', async () => {
  const theirs = await overAdoptedDuplex(http);
  assert.deepEqual(theirs, ['200 GET /one ', '200 POST /two payload']);
  assert.deepEqual(await overAdoptedDuplex(rhttp), theirs);
});

// A TLS request to a plain net server that hands its sockets to `server` (the pattern of
// sticky-session clusters): the body and the client address the handler saw.
async function overHandedSocket(mod) {
  const { serverOptions, rootCert } = pki();
  const server = mod.createServer(serverOptions, (req, res) => res.end(`${req.socket.remoteAddress} ${req.socket.encrypted === true}`));
  const front = net.createServer((socket) => server.emit('connection', socket));
  const port = await listen(front, 0, '127.0.0.1');
  try {
    return await within(new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, servername: 'localhost', ca: rootCert, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    }), 5000, 'a request through the handed socket');
  } finally {
    await close(front);
    await close(server);
  }
}

test('a socket another server accepted, handed over with emit(\'connection\'), gets the TLS handshake and its request served, as on node:https', async () => {
  const theirs = await overHandedSocket(https);
  assert.equal(theirs, '127.0.0.1 true');
  assert.equal(await overHandedSocket(rhttps), theirs);
});

// clientError's code and bytesParsed for a head sent in one write.
async function parseErrorPlace(mod, payload) {
  const server = mod.createServer(() => {});
  const port = await listen(server, 0, '127.0.0.1');
  try {
    return await within(new Promise((resolve) => {
      server.on('clientError', (err, socket) => {
        resolve(`${err.code} at ${err.bytesParsed}`);
        socket.destroy();
      });
      const client = net.connect(port, '127.0.0.1', () => client.write(payload));
      client.on('error', () => {});
    }), 5000, 'a clientError');
  } finally {
    await close(server);
  }
}

test('clientError\'s bytesParsed names the byte where the head went wrong, as on node:http', async () => {
  for (const payload of [
    'FOO /\r\n',
    'PATCHX / HTTP/1.1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
    'GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n',
    'GET /\x01 HTTP/1.1\r\n\r\n',
    'GET / HTXP/1.1\r\n\r\n',
    'GET / HTTP/9.1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n',
  ]) {
    const theirs = await parseErrorPlace(http, payload);
    assert.equal(await parseErrorPlace(rhttp, payload), theirs, JSON.stringify(payload));
  }
});

// What the server's socket goes through when a TLS client half-closes right behind its request.
async function socketEventsAfterHalfClose(make) {
  const seen = [];
  let closed;
  const done = new Promise((resolve) => { closed = resolve; });
  const server = make(pki().serverOptions, (req, res) => {
    const socket = req.socket;
    socket.on('finish', () => seen.push('finish'));
    socket.on('close', () => { seen.push('close'); closed(); });
    socket.on('error', (e) => seen.push(`error ${e.code}`));
    res.end('hi');
  });
  const port = await listen(server, 0, '127.0.0.1');
  try {
    const client = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki().rootCert },
      () => client.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    client.on('data', () => {});
    client.on('error', () => {});
    await within(done, 5000, 'the server socket closes');
  } finally {
    await close(server);
  }
  return seen;
}

test('regression: a socket whose client half-closed behind its request finishes before it is destroyed, as on node:https', async () => {
  const ours = await socketEventsAfterHalfClose(rhttps.createServer);
  const node = await socketEventsAfterHalfClose(https.createServer);
  assert.deepEqual(node, ['finish', 'close']);
  assert.deepEqual(ours, node);
});
