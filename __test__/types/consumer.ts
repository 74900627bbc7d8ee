// Compiled with `tsc --strict --noEmit` by __test__/typings.test.js: code written against
// node:https must type-check unchanged with rhttps.
import * as https from 'node:https';
import * as http from 'node:http';
import * as rhttps from 'rhttps';
import * as rhttp from 'rhttps/http';

const { key, cert } = rhttps.createSelfSignedCertificate({ hosts: ['localhost'] });
const server = rhttps.createServer({ key, cert }, (req, res) => {
  const method: string | undefined = req.method;
  const msg: http.IncomingMessage = req;
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${method} ${msg.url}`);
});
const asNode: https.Server = server;
asNode.listen(0, '127.0.0.1', () => server.close());
server.keepAliveTimeout = 65_000;

const plain: http.Server = rhttp.createServer((req, res) => res.end(req.url));
plain.close();

const viaCtor: https.Server = new rhttps.Server({ key, cert });
viaCtor.close();

const ctx: rhttps.SecureContext = rhttps.createSecureContext({ key, cert });
server.addContext('*.example.test', ctx as never);

// @ts-expect-error a port is not a valid options object
rhttps.createServer(8443);

// SNICallback answers with rhttps's own contexts (or options); secureContext takes one too.
const sniContext = rhttps.createSecureContext({ key: 'k', cert: 'c' });
rhttps.createServer({
  key: 'k',
  cert: 'c',
  SNICallback: (servername: string, cb) => cb(null, servername === 'a.test' ? sniContext : { key: 'k', cert: 'c' }),
  ALPNCallback: ({ protocols }) => protocols[0],
});
rhttps.createServer({ secureContext: sniContext });

// HTTP/2 from the same handler: the convenience option, or ALPNProtocols naming h2.
rhttps.createServer({ key: 'k', cert: 'c', allowHTTP2: true }, (req, res) => res.end(req.httpVersion));
rhttps.createServer({ key: 'k', cert: 'c', ALPNProtocols: ['h2', 'http/1.1'] });
// @ts-expect-error allowHTTP2 is a boolean
rhttps.createServer({ allowHTTP2: 'yes' });
