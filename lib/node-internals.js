'use strict';
// Node's http code keeps some state under private symbols that its own server sets and
// reads. Where rhttps stands in for that server it needs the same symbols; they are found
// by description on a fresh instance, once, rather than by reaching into Node's internals.

const http = require('node:http');

function ownSymbol(obj, description) {
  return Object.getOwnPropertySymbols(obj).find((s) => s.description === description);
}

// Set by OutgoingMessage#write when the socket reported backpressure; the server clears it
// and emits 'drain' on the response when the socket drains (Node's socketOnDrain).
const kNeedDrain = ownSymbol(new http.OutgoingMessage(), 'kNeedDrain');

function emitResponseDrain(socket) {
  const msg = socket._httpMessage;
  if (!msg || msg.finished) return;
  if (kNeedDrain !== undefined) {
    if (!msg[kNeedDrain]) return;
    msg[kNeedDrain] = false;
  } else if (!msg.writableNeedDrain) {
    return;
  }
  msg.emit('drain');
}

module.exports = { emitResponseDrain };
