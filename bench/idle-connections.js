'use strict';
// Opens N idle TLS connections (handshake done, nothing sent) to `port`, prints `open`, and
// holds them until stdin closes: `node bench/idle-connections.js <port> <n> [sources]`. With
// `sources`, connections come from that many loopback addresses (127.0.0.2, 127.0.0.3, …),
// each with its own ephemeral ports, for more connections than one address has ports for.

const tls = require('node:tls');

const [port, n, sources = 0] = process.argv.slice(2).map(Number);
const sockets = [];
let open = 0;

function connect(i) {
  if (i >= n) return;
  const localAddress = sources > 0 ? `127.0.0.${2 + (i % sources)}` : undefined;
  const sock = tls.connect({ port, host: '127.0.0.1', localAddress, rejectUnauthorized: false, servername: 'localhost' }, () => {
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
