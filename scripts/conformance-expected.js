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
};

module.exports = { onBaseline, onRhttps };
