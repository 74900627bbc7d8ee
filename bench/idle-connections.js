'use strict';
// Opens N idle TLS connections (handshake done, nothing sent) to `port`, prints `open`, and
// holds them until stdin closes: `node bench/idle-connections.js <port> <n>`.

const tls = require('node:tls');

const [port, n] = process.argv.slice(2).map(Number);
const sockets = [];
let open = 0;

function connect(i) {
  if (i >= n) return;
  const sock = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' }, () => {
    open++;
    if (open === n) console.log('open');
    connect(i + 50);
  });
  sock.on('error', (e) => { console.error(`connection ${i}: ${e.message}`); process.exit(1); });
  sockets.push(sock);
}

for (let i = 0; i < 50; i++) connect(i);
process.stdin.resume();
process.stdin.on('end', () => { for (const s of sockets) s.destroy(); process.exit(0); });
