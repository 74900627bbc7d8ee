// Type-level checks (tsc --strict): rhttps servers go where frameworks expect Node servers,
// exact types are what @types/node gives, and misuse does not compile.
import * as https from 'node:https';
import * as http from 'node:http';
import express from 'express';
import Koa from 'koa';
import { WebSocketServer } from 'ws';
import Fastify from 'fastify';
import { Server as SocketIoServer } from 'socket.io';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import * as rhttps from 'rhttps';
import * as rhttp from 'rhttps/http';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(): void {}

const { key, cert } = rhttps.createSelfSignedCertificate();
assertType<Equal<typeof key, string>>();
const options: rhttps.ServerOptions = { key, cert, ca: [cert], minVersion: 'TLSv1.2' };

// Plain handler: req and res are Node's classes.
const plain = rhttps.createServer(options, (req, res) => {
  assertType<Equal<typeof req, http.IncomingMessage>>();
  assertType<Equal<typeof res, http.ServerResponse<http.IncomingMessage> & { req: http.IncomingMessage }>>();
  res.end();
});
assertType<Equal<typeof plain, https.Server<typeof http.IncomingMessage, typeof http.ServerResponse>>>();
const asHttps: https.Server = plain;
const asHttpServer: http.Server = rhttp.createServer();
plain.on('secureConnection', (socket) => socket.getProtocol());
plain.on('upgrade', (req, socket, head) => { socket.write(head); });

// Express, Koa, ws, Fastify, socket.io, Hono.
rhttps.createServer(options, express());
rhttps.createServer(options, new Koa().callback());
new WebSocketServer({ server: rhttps.createServer(options) });
Fastify({ serverFactory: (handler) => rhttps.createServer(options, handler) });
new SocketIoServer(rhttps.createServer(options));
serve({ fetch: new Hono().fetch, createServer: rhttps.createServer, serverOptions: options });

// Misuse that must not compile.
// @ts-expect-error a port is not an options object
rhttps.createServer(8443);
// @ts-expect-error key must be PEM text or bytes
rhttps.createServer({ key: 42 });
// @ts-expect-error hosts is a list
rhttps.createSelfSignedCertificate({ hosts: 'localhost' });
// @ts-expect-error the helper returns key and cert only
rhttps.createSelfSignedCertificate().pem;

void asHttps;
void asHttpServer;
