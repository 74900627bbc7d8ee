'use strict';
// Streams the application hands to the server with `server.emit('connection', stream)`, as
// sticky-session clusters do with sockets passed between processes, and in-process
// transports with any Duplex. The engine serves each one as it serves an accepted socket,
// over an in-memory pipe: the stream's bytes go in with pipeWrite, the connection's come out
// as PIPE_DATA events. The server's own socket stands for the connection in requests, as
// one that reached it over the network.

function adopt(st, stream) {
  const native = st.native;
  const pipe = native.adopt(stream.remoteAddress ?? null, stream.remotePort ?? 0,
    stream.localAddress ?? null, stream.localPort ?? 0);
  st.pipes.set(pipe, { stream });
  st.pipeActivity();
  stream.on('data', (chunk) => {
    if (typeof chunk === 'string') chunk = Buffer.from(chunk);
    st.pipeActivity();
    if (!native.pipeWrite(pipe, chunk)) stream.pause();
  });
  stream.on('end', () => {
    st.pipeActivity();
    native.pipeEnd(pipe);
  });
  // The stream's errors end its connection, as a reset socket's do; the stream's owner sees
  // them as well if it listens.
  stream.on('error', () => native.pipeDestroy(pipe));
  stream.on('close', () => native.pipeDestroy(pipe));
  stream.on('drain', () => native.pipePauseOutput(pipe, false));
}

// Engine events for pipes (see lib/events.js).
function onPipeData(st, pipe, data) {
  const entry = st.pipes.get(pipe);
  if (entry === undefined || entry.stream.destroyed) return;
  st.pipeActivity();
  // Copied: the event batch is reused.
  if (entry.stream.write(Buffer.from(data)) === false) st.native.pipePauseOutput(pipe, true);
}

function onPipeEnd(st, pipe) {
  const entry = st.pipes.get(pipe);
  if (entry === undefined) return;
  st.pipes.delete(pipe);
  if (!entry.stream.destroyed && entry.stream.writable) entry.stream.end();
}

function onPipeDrain(st, pipe) {
  const entry = st.pipes.get(pipe);
  if (entry !== undefined && !entry.stream.destroyed) entry.stream.resume();
}

module.exports = { adopt, onPipeData, onPipeEnd, onPipeDrain };
