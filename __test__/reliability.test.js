'use strict';
// Faults a server survives as node:https/node:http does: every handler exception reported,
// responses kept across a client's half-close, descriptor exhaustion backed off and recovered.
// Each parity check runs the same script against Node's server and rhttps's.

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { ROOT, runScript } = require('./helpers');

const HELPERS = JSON.stringify(path.join(__dirname, 'helpers'));

// Runs `body` (a script fragment that ends by printing one JSON line) with `createServer` bound
// to the implementation's https.createServer and `serverOptions` to the test chain.
async function onBoth(body, { timeoutMs = 30000 } = {}) {
  const results = {};
  for (const impl of ['node', 'rhttps']) {
    const source = `
      const createServer = ${impl === 'node' ? "require('node:https').createServer" : `require(${JSON.stringify(ROOT)}).createServer`};
      const { pki } = require(${HELPERS});
      const serverOptions = pki().serverOptions;
      const ca = pki().rootCert;
      ${body}
    `;
    const r = await runScript(source, { timeoutMs });
    assert.strictEqual(r.signal, null, `${impl} was killed: ${r.stderr}`);
    const last = r.stdout.trim().split('\n').pop();
    assert.ok(last && last.startsWith('{'), `${impl} printed no result: ${r.stdout} ${r.stderr}`);
    results[impl] = JSON.parse(last);
  }
  return results;
}

test('regression: every exception thrown by handlers in one batch reaches uncaughtException', async () => {
  const results = await onBoth(`
    const tls = require('node:tls');
    const caught = [];
    process.on('uncaughtException', (err) => caught.push(err.message));
    const server = createServer(serverOptions, (req) => { throw new Error(req.url); });
    server.listen(0, '127.0.0.1', async () => {
      const port = server.address().port;
      for (let round = 0; round < 3; round++) {
        const sockets = [];
        for (let i = 0; i < 20; i++) {
          const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca }, () => {
            s.write('GET /' + round + '-' + i + ' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');
          });
          s.on('error', () => {});
          sockets.push(s);
        }
        const want = (round + 1) * 20;
        const deadline = Date.now() + 5000;
        while (caught.length < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        for (const s of sockets) s.destroy();
      }
      const everyRound = [0, 1, 2].every((round) => caught.filter((m) => m.startsWith('/' + round + '-')).length === 20);
      console.log(JSON.stringify({ caught: caught.length, everyRound }));
      process.exit(0);
    });
  `);
  assert.deepStrictEqual(results.node, { caught: 60, everyRound: true }, 'node:https reference');
  assert.deepStrictEqual(results.rhttps, results.node);
});

const HALF_CLOSE = [
  ['a bare TCP FIN', 'a synchronous answer', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['close_notify', 'a synchronous answer', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  // The answer comes on the request's 'end', ticks after the request: still before the FIN.
  ['close_notify', "an answer on the request's 'end'", 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nAA\r\n0\r\n\r\n'],
];

for (const [close, answer, request] of HALF_CLOSE) {
  test(`regression: a whole request followed at once by ${close} gets ${answer}`, async () => {
    const results = await onBoth(`
      const net = require('node:net');
      const tls = require('node:tls');
      const server = createServer(serverOptions, (req, res) => {
        if (req.method === 'GET') return res.end('answer');
        req.resume();
        req.on('end', () => res.end('answer'));
      });
      server.listen(0, '127.0.0.1', async () => {
        const port = server.address().port;
        let answered = 0;
        for (let i = 0; i < 20; i++) {
          const text = await new Promise((resolve) => {
            const raw = net.connect(port, '127.0.0.1');
            const t = tls.connect({ socket: raw, servername: 'localhost', ca }, () => {
              t.write(${JSON.stringify(request)}, () => {
                if (${JSON.stringify(close)} === 'close_notify') t.end();
                else raw.end();
              });
            });
            let got = '';
            t.on('data', (d) => { got += d; });
            t.on('error', () => {});
            t.on('close', () => resolve(got));
            setTimeout(() => { t.destroy(); }, 3000).unref();
          });
          if (text.startsWith('HTTP/1.1 200')) answered++;
        }
        console.log(JSON.stringify({ answered }));
        process.exit(0);
      });
    `, { timeoutMs: 90000 });
    assert.deepStrictEqual(results.node, { answered: 20 }, 'node:https reference');
    assert.deepStrictEqual(results.rhttps, results.node);
  });
}

test('regression: after a refused request whose clientError listener keeps the socket, the client\'s FIN still ends the connection', async () => {
  const results = await onBoth(`
    const tls = require('node:tls');
    const server = createServer(serverOptions, () => {});
    let code;
    server.on('clientError', (err) => { code = err.code; });
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: server.address().port, host: '127.0.0.1', servername: 'localhost', ca }, () => {
        c.write('GET / HTTP/1.1\\r\\nDummy: Header\\rContent-Length: 1\\r\\n\\r\\n');
        c.end();
      });
      c.on('error', () => {});
      const timer = setTimeout(() => { console.log(JSON.stringify({ code, ended: false })); process.exit(0); }, 3000);
      c.on('end', () => { clearTimeout(timer); console.log(JSON.stringify({ code, ended: true })); process.exit(0); });
    });
  `);
  assert.deepStrictEqual(results.node, { code: 'HPE_LF_EXPECTED', ended: true }, 'node:https reference');
  assert.deepStrictEqual(results.rhttps, results.node);
});
