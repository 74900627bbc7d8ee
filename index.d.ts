/// <reference types="node" />
// Public typings for `rhttps`: the server side of `node:https`, typed with Node's own types so
// that a `Server` is assignable wherever an `https.Server` is expected.

import type * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Options accepted by {@link createServer}: those of `https.createServer`, except that
 * contexts (from `SNICallback`, or `secureContext`) are rhttps's own {@link SecureContext}s
 * or plain TLS option objects: a `node:tls` SecureContext cannot be read by rhttps.
 */
export type ServerOptions<
  Request extends typeof IncomingMessage = typeof IncomingMessage,
  Response extends typeof ServerResponse = typeof ServerResponse,
> = Omit<https.ServerOptions<Request, Response>, 'SNICallback' | 'secureContext'> & {
  SNICallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext | import('node:tls').SecureContextOptions | null) => void) => void;
  secureContext?: SecureContext;
  /**
   * Offer HTTP/2 as well as HTTP/1.1 (ALPN `['h2', 'http/1.1']`, server order first). HTTP/2
   * requests reach the same handler as genuine `IncomingMessage`/`ServerResponse` objects with
   * `httpVersion` `'2.0'`. Naming `'h2'` in `ALPNProtocols`, or returning it from
   * `ALPNCallback`, does the same; `ALPNProtocols` wins when both are given. Default: `false`.
   */
  allowHTTP2?: boolean;
};

/**
 * An HTTPS server served by the rhttps engine. Instances pass `instanceof https.Server`,
 * `tls.Server` and `net.Server`; requests and responses are Node's own classes.
 */
export declare const Server: {
  new <
    Request extends typeof IncomingMessage = typeof IncomingMessage,
    Response extends typeof ServerResponse = typeof ServerResponse,
  >(options?: ServerOptions<Request, Response>, requestListener?: (req: InstanceType<Request>, res: InstanceType<Response> & { req: InstanceType<Request> }) => void): https.Server<Request, Response>;
  <
    Request extends typeof IncomingMessage = typeof IncomingMessage,
    Response extends typeof ServerResponse = typeof ServerResponse,
  >(options?: ServerOptions<Request, Response>, requestListener?: (req: InstanceType<Request>, res: InstanceType<Response> & { req: InstanceType<Request> }) => void): https.Server<Request, Response>;
  prototype: https.Server;
};
export type Server<
  Request extends typeof IncomingMessage = typeof IncomingMessage,
  Response extends typeof ServerResponse = typeof ServerResponse,
> = https.Server<Request, Response>;

/** Same overloads as `https.createServer`. */
export declare function createServer<
  Request extends typeof IncomingMessage = typeof IncomingMessage,
  Response extends typeof ServerResponse = typeof ServerResponse,
>(requestListener?: (req: InstanceType<Request>, res: InstanceType<Response> & { req: InstanceType<Request> }) => void): https.Server<Request, Response>;
export declare function createServer<
  Request extends typeof IncomingMessage = typeof IncomingMessage,
  Response extends typeof ServerResponse = typeof ServerResponse,
>(options: ServerOptions<Request, Response>, requestListener?: (req: InstanceType<Request>, res: InstanceType<Response> & { req: InstanceType<Request> }) => void): https.Server<Request, Response>;

/** A PEM key and certificate pair. */
export interface SelfSignedCertificate {
  /** PKCS#8 PEM private key (ECDSA P-256). */
  key: string;
  /** PEM certificate. */
  cert: string;
}

/**
 * Generates a self-signed certificate for development (rhttps extra, not in `node:https`).
 * @param options.hosts DNS names and IP addresses; default `localhost`, `127.0.0.1`, `::1`.
 */
export declare function createSelfSignedCertificate(options?: { hosts?: string[] }): SelfSignedCertificate;

/**
 * Validated TLS options (rhttps's counterpart of `tls.createSecureContext`): pass it to
 * `server.addContext(hostname, context)` or `server.setSecureContext(...)`. Invalid PEM or
 * options throw here, with the same codes `createServer` uses.
 */
export declare class SecureContext {
  private constructor();
}
export declare function createSecureContext(options?: import('node:tls').SecureContextOptions): SecureContext;

export declare const Agent: typeof https.Agent;
export declare const globalAgent: typeof https.globalAgent;
export declare const request: typeof https.request;
export declare const get: typeof https.get;
