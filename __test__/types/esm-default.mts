// ESM consumers: the default import written for node:https keeps working.
import https from 'rhttps';
import { createServer } from 'rhttps';
import type { Server } from 'node:https';

const { key, cert } = https.createSelfSignedCertificate();
const a: Server = https.createServer({ key, cert });
const b: Server = createServer({ key, cert });
void a;
void b;
