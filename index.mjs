// ESM entry: `import { createServer } from 'rhttps'`, or `import https from 'rhttps'` for code
// written against node:https's default import. One implementation: the CommonJS module.
import rhttps from './index.js';

export const {
  Server, createServer, createSelfSignedCertificate, createSecureContext, SecureContext, Agent, globalAgent,
  request, get,
} = rhttps;
export default rhttps;
