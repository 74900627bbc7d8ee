/// <reference types="node" />
// Typings for `rhttps/http`: `node:http` with the server served by the rhttps engine.

import type * as http from 'node:http';

export * from 'node:http';

/** Same overloads as `http.createServer`; the server is a `http.Server`. */
export declare function createServer<
  Request extends typeof http.IncomingMessage = typeof http.IncomingMessage,
  Response extends typeof http.ServerResponse = typeof http.ServerResponse,
>(requestListener?: http.RequestListener<Request, Response>): http.Server<Request, Response>;
export declare function createServer<
  Request extends typeof http.IncomingMessage = typeof http.IncomingMessage,
  Response extends typeof http.ServerResponse = typeof http.ServerResponse,
>(options: http.ServerOptions<Request, Response>, requestListener?: http.RequestListener<Request, Response>): http.Server<Request, Response>;
