'use strict';
// The framework apps the tests run unmodified: on node:https and rhttps (frameworks.test.js),
// and over HTTP/1.1 and HTTP/2 from one rhttps server (http2.test.js).

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const { tempDir } = require('./helpers');

const staticDir = tempDir('static');
const bigFile = crypto.randomBytes(300 * 1024);
fs.writeFileSync(path.join(staticDir, 'big.bin'), bigFile);
fs.writeFileSync(path.join(staticDir, 'index.html'), '<h1>static index</h1>');

function expressApp(express) {
  const compression = require('compression');
  const app = express();
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));
  app.get('/json', (req, res) => res.json({ hello: 'world', secure: req.secure }));
  app.post('/json', (req, res) => res.status(201).json({ got: req.body }));
  app.post('/form', (req, res) => res.send(`name=${req.body.name}`));
  app.get('/cookies', (req, res) => {
    res.cookie('a', '1', { httpOnly: true });
    res.cookie('b', '2', { sameSite: 'strict' });
    res.send('cookies set');
  });
  app.get('/redirect', (req, res) => res.redirect(302, '/json'));
  app.get('/file', (req, res) => res.sendFile(path.join(staticDir, 'index.html')));
  app.get('/error', () => { throw new Error('route failed'); });
  app.get('/compressed', compression({ threshold: 0 }), (req, res) => res.send('squeeze me '.repeat(500)));
  app.use('/static', express.static(staticDir));
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => res.status(500).json({ error: err.message }));
  return app;
}

const expressCases = [
  { path: '/json' },
  { path: '/json', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":[1,2]}' },
  { path: '/form', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=r%C3%BCst' },
  { path: '/cookies' },
  { path: '/redirect' },
  { path: '/file' },
  { path: '/error' },
  { path: '/compressed', headers: { 'accept-encoding': 'gzip' } },
  { path: '/static/big.bin' },
  { path: '/static/big.bin', headers: { range: 'bytes=100-199' } },
  { path: '/static/' },
  { path: '/nope' },
];

function koaApp() {
  const Koa = require('koa');
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      ctx.status = 500;
      ctx.body = { error: err.message };
    }
  });
  app.use(async (ctx) => {
    if (ctx.path === '/boom') throw new Error('koa boom');
    if (ctx.method === 'POST') {
      const chunks = [];
      for await (const c of ctx.req) chunks.push(c);
      ctx.status = 201;
      ctx.body = { length: Buffer.concat(chunks).length };
      return;
    }
    ctx.set('X-Koa', 'yes');
    ctx.cookies.set('k', 'v');
    ctx.body = { path: ctx.path, query: ctx.query, secure: ctx.secure };
  });
  return app.callback();
}

// Fastify on the server `factory` makes from its handler.
function fastifyApp(factory) {
  const Fastify = require('fastify');
  const app = Fastify({ serverFactory: factory });
  app.get('/hello/:name', async (req) => ({ hello: req.params.name }));
  app.post('/echo', async (req, reply) => reply.code(201).send({ body: req.body }));
  return app;
}

const fastifyCases = [
  { path: '/hello/world' },
  { path: '/echo', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
  { path: '/missing' },
];

const koaCases = [{ path: '/hello?a=1' }, { path: '/boom' }, { path: '/up', method: 'POST', body: 'x'.repeat(70000) }];

module.exports = { expressApp, expressCases, koaApp, koaCases, fastifyApp, fastifyCases, bigFile, staticDir };
