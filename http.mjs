// ESM entry for `rhttps/http`: node:http with the server served by the rhttps engine.
import rhttp from './http.js';

export const {
  METHODS, STATUS_CODES, Agent, ClientRequest, IncomingMessage, OutgoingMessage, Server,
  ServerResponse, createServer, validateHeaderName, validateHeaderValue, get, request,
  setMaxIdleHTTPParsers, maxHeaderSize, globalAgent,
} = rhttp;
export default rhttp;
