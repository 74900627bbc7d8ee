'use strict';
// What scripts/conformance.js expects to fail, each with why. A file leaves a list when it
// passes; the runner says so.

// Files that fail on plain Node too: the tree is Node 20.11.1's tests and this machine runs a
// later Node 20, whose llhttp names some parse errors differently (the second framing header
// is the one reported, "Duplicate Content-Length" became Transfer-Encoding's error, folded and
// repeated headers are read differently). They say nothing about rhttps and are left out of
// both runs' counts.
const onBaseline = {
  'test-http-client-error-rawbytes.js': 'Node 20.20 reports the other framing header than 20.11 did',
  'test-http-client-parse-error.js': 'Node 20.20 words this parse error differently',
  'test-http-client-reject-chunked-with-content-length.js': 'Node 20.20: HPE_INVALID_TRANSFER_ENCODING where 20.11 said HPE_UNEXPECTED_CONTENT_LENGTH',
  'test-http-invalid-te.js': 'Node 20.20: HPE_INVALID_TRANSFER_ENCODING where 20.11 said HPE_UNEXPECTED_CONTENT_LENGTH',
  'test-http-multi-line-headers.js': 'Node 20.20 refuses folded header lines that 20.11 took',
  'test-http-multiple-headers.js': 'Node 20.20 folds repeated headers differently from 20.11',
  'test-http-response-splitting.js': 'Node 20.20 refuses the split response before the test sees it (the test waits forever)',
  'test-http-server-reject-chunked-with-content-length.js': 'Node 20.20: HPE_INVALID_TRANSFER_ENCODING where 20.11 said HPE_UNEXPECTED_CONTENT_LENGTH',
  'test-http-socket-error-listeners.js': 'Node 20.20 does not emit the error this 20.11 test waits for',
  'test-http-transfer-encoding-smuggling.js': 'Node 20.20 answers the smuggling attempt with another error than 20.11',
};

// Files that pass on plain Node and fail on rhttps by design.
const onRhttps = {
  'test-http-server-unconsume-consume.js': "re-emits 'connection' with an upgraded socket so that Node's HTTP parser takes it over again; rhttps parses in the engine and has no JS parser to hand a socket to",
  'test-http-dump-req-when-res-ends.js': "counts Node's own 'data' listener on the server's socket (socketOnData, through which its JS parser reads) and reads request bytes from the socket while the parser has it; in rhttps the engine parses, and a socket's 'data' carries bytes only once upgraded",
  'test-http-server-unconsume.js': "reads request bytes from a socket 'data' listener while Node's JS parser still has the socket (see test-http-dump-req-when-res-ends.js)",
  'test-http-server-keepalive-end.js': "reads req.socket.parser.incoming, a field of the HTTPParser instance Node's server attaches to each socket; rhttps parses in the engine and attaches none (socket.parser is null, Node's value for a socket no parser reads)",
  'test-http-server-connection-list-when-close.js': 'replaces req.socket.parser.free, a method of the HTTPParser instance Node attaches (see test-http-server-keepalive-end.js)',
  'test-http-parser-memory-retention.js': 'reads req.socket.parser[HTTPParser.kOnTimeout] (see test-http-server-keepalive-end.js)',
  'test-http-req-close-robust-from-tampering.js': "calls each of the socket's 'close' listeners through socket._events.close, expecting Node's own server listeners there; rhttps learns of a close from the engine, so the socket carries only the listeners node:http's response code adds",
  'test-http-parser-freed-before-upgrade.js': "ends with an upgraded socket the client has closed but the server never ended: libuv stops counting a TCP handle that has read its EOF and has nothing to write, so Node exits; rhttps keeps an open connection's process alive until the application ends or destroys it",
  'test-https-agent-sni.js': "sends the SNI name 'sni.0', which is no DNS name (its last label is numeric); rustls refuses such a ClientHello with illegal_parameter, as RFC 6066 asks, where OpenSSL takes any string",
  'test-https-agent-additional-options.js': 'serves TLS 1.1 (minVersion, secureProtocol TLSv1_1_method, ciphers ALL@SECLEVEL=0); rustls implements only TLS 1.2 and 1.3, so rhttps refuses TLS 1.0/1.1 options at createServer with the reason',
  'test-https-agent-session-eviction.js': "needs TLS 1.0 (--tls-min-v1.0, secureProtocol TLSv1_method) and static-RSA key exchange (ciphers 'RSA@SECLEVEL=0'), neither of which rustls implements",
  'test-https-resume-after-renew.js': "drives OpenSSL's ticket-key callback through server._sharedCreds.context (an OpenSSL SSL_CTX); rhttps has no OpenSSL context: ticket keys are set with setTicketKeys() or the ticketKeys option",
  'test-http-server-async-dispose.js': "reads server[kConnectionsCheckingInterval], the JS timer with which Node's server checks headersTimeout/requestTimeout; rhttps checks them per connection in the engine and has no such timer",
  'test-https-server-async-dispose.js': 'reads server[kConnectionsCheckingInterval] (see test-http-server-async-dispose.js)',
  'test-http-server-close-destroy-timeout.js': 'reads server[kConnectionsCheckingInterval] (see test-http-server-async-dispose.js)',
  'test-https-server-close-destroy-timeout.js': 'reads server[kConnectionsCheckingInterval] (see test-http-server-async-dispose.js)',
};

module.exports = { onBaseline, onRhttps };
