'use strict';
// A real browser: Debian's headless Chromium loads a page from rhttps over HTTPS (trusting the
// test key by its SPKI hash), the page opens a wss:// WebSocket to the same server, and the
// echo comes back. Driven by playwright-core; no browser is downloaded.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');
const rhttps = require('..');
const { pki, listen, close, tempDir } = require('./helpers');

const CHROMIUM = '/usr/bin/chromium';

const page = `<!doctype html><title>loading</title>
<script>
  const ws = new WebSocket('wss://' + location.host + '/echo');
  ws.onopen = () => ws.send('hello from ' + (window.isSecureContext ? 'a secure context' : 'nowhere'));
  ws.onmessage = (e) => { document.title = e.data; };
  ws.onerror = () => { document.title = 'websocket error'; };
</script>`;

// CI sets RHTTPS_REQUIRE_BROWSER so a missing browser fails there instead of skipping.
const missing = !fs.existsSync(CHROMIUM) && !process.env.RHTTPS_REQUIRE_BROWSER
  && 'Debian chromium is not installed (apt-get install chromium)';

// Chromium trusting the test key by its SPKI hash, in a fresh profile.
async function launch() {
  const { chromium } = require('playwright-core');
  const spki = crypto.createHash('sha256')
    .update(crypto.createPublicKey(pki().leafCert).export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const profile = tempDir('chromium');
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--ignore-certificate-errors-spki-list=${spki}`],
  });
  return browser;
}

test('headless Chromium loads a page over HTTPS and echoes through wss://', { skip: missing }, async () => {
  const server = rhttps.createServer(pki().serverOptions, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo: ${m}`)));
  const port = await listen(server, 0, '127.0.0.1');
  const browser = await launch();
  try {
    const tab = await browser.newPage();
    const response = await tab.goto(`https://localhost:${port}/`);
    assert.equal(response.status(), 200);
    const security = await response.securityDetails();
    assert.equal(security.protocol, 'TLS 1.3');
    await tab.waitForFunction(() => document.title.startsWith('echo:'), null, { timeout: 10000 });
    assert.equal(await tab.title(), 'echo: hello from a secure context');
  } finally {
    await browser.close();
    wss.close();
    await close(server);
  }
});

const h2Page = `<!doctype html><title>loading</title>
<script>
  (async () => {
    const fetched = await (await fetch('/data.json')).json();
    const protocol = performance.getEntriesByType('navigation')[0].nextHopProtocol;
    const ws = new WebSocket('wss://' + location.host + '/echo');
    ws.onopen = () => ws.send(protocol + ' ' + fetched.version);
    ws.onmessage = (e) => { document.title = e.data; };
    ws.onerror = () => { document.title = 'websocket error'; };
  })();
</script>`;

test('headless Chromium loads a page over HTTP/2 from the same handler, and its WebSocket falls back to HTTP/1.1', { skip: missing }, async () => {
  const versions = [];
  const server = rhttps.createServer({ ...pki().serverOptions, allowHTTP2: true }, (req, res) => {
    versions.push(`${req.url} ${req.httpVersion}`);
    if (req.url === '/data.json') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ version: req.httpVersion }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(h2Page);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send(`echo: ${m} ws ${req.httpVersion}`)));
  const port = await listen(server, 0, '127.0.0.1');
  const browser = await launch();
  try {
    const tab = await browser.newPage();
    const response = await tab.goto(`https://localhost:${port}/`);
    assert.equal(response.status(), 200);
    await tab.waitForFunction(() => document.title.startsWith('echo:'), null, { timeout: 10000 });
    assert.equal(await tab.title(), 'echo: h2 2.0 ws 1.1');
    assert.ok(versions.includes('/ 2.0') && versions.includes('/data.json 2.0'), JSON.stringify(versions));
  } finally {
    await browser.close();
    wss.close();
    await close(server);
  }
});
