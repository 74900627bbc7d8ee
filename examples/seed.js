const https = require('rhttps');
const fs = require('fs');
const options = { key: fs.readFileSync('path/to/private.key'),
                  cert: fs.readFileSync('path/to/certificate.crt'),
                  ca: fs.readFileSync('path/to/chain.pem') };
https.createServer(options, (req, res) => { res.writeHead(200); res.end('Hello, Secure World!'); })
  .listen(443, () => { console.log('HTTPS server running on port 443'); });
