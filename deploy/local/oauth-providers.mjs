// Fake "Login with Google" and "Login with Facebook" for the local stack, plus a control endpoint.
//
//   node oauth-providers.mjs --modules DIR/node_modules --google PORT --facebook PORT --control PORT
//
// Each provider is an oauth2-mock-server (authorize, token with PKCE, userinfo, jwks, discovery) on
// 127.0.0.1 whose issuer is http://127.0.0.1:PORT. Its tokens and /userinfo carry the provider's current
// user claims; Facebook's /userinfo is Graph-shaped ({id, name, email}).
//
// Control endpoint (JSON in and out), for tests that need a provider to behave a certain way:
//   GET  /healthz                        200 {"ok":true}
//   POST /reset                          default users back, pending failures cleared
//   POST /{provider}/users               body = the claims of the user who logs in from now on
//   POST /{provider}/fail-next-token     the next token exchange answers 400 {"error":"invalid_grant"}
//   POST /{provider}/next-token          body = claims that override the next token response's tokens
//                                        (e.g. {"aud":"another-app"}, {"iss":"…"}, {"exp":0}, {"nonce":"x"})
//   POST /{provider}/bad-signature-next  the next ID token is signed with a fresh key that is not in the
//                                        JWKS (same `kid` header, so only the signature check can refuse it)
//   POST /{provider}/deny-next           body {"error":"access_denied"} (the default): the next authorize
//                                        redirects back with that error and no code, as when the person
//                                        clicks "Cancel" at the provider
// The state is global to the process: tests that change it must not run concurrently with each other.

import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values: args } = parseArgs({
  options: {
    modules: { type: 'string' },
    google: { type: 'string' },
    facebook: { type: 'string' },
    control: { type: 'string' },
  },
});
for (const name of ['modules', 'google', 'facebook', 'control']) {
  if (!args[name]) {
    console.error(`usage: oauth-providers.mjs --modules DIR --google PORT --facebook PORT --control PORT (missing --${name})`);
    process.exit(2);
  }
}

// The package lives in .stack/tools/node, not beside this file, so resolve it from there.
const require = createRequire(path.join(path.resolve(args.modules), '..', 'package.json'));
const { OAuth2Server } = await import(pathToFileURL(require.resolve('oauth2-mock-server')).href);

const HOST = '127.0.0.1';

const DEFAULT_USERS = {
  google: {
    sub: 'google-uid-123',
    email: 'alice@gmail.test',
    email_verified: true,
    name: 'Alice Example',
    given_name: 'Alice',
    family_name: 'Example',
  },
  facebook: {
    sub: 'fb-uid-456',
    id: 'fb-uid-456',
    email: 'bob@facebook.test',
    name: 'Bob Example',
  },
};

function freshState() {
  return {
    users: structuredClone(DEFAULT_USERS),
    failNextToken: { google: false, facebook: false },
    nextToken: { google: null, facebook: null },
    badSignatureNext: { google: false, facebook: false },
    denyNext: { google: null, facebook: null },
  };
}

let state = freshState();

// A key no provider publishes, for "bad signature" ID tokens. Signing is synchronous because the
// mock's response hook cannot wait.
const ROGUE_KEY = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

function signWithRogueKey(jwt) {
  const [header, payload] = jwt.split('.');
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), ROGUE_KEY);
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

function userinfoBody(provider) {
  const user = state.users[provider];
  if (provider === 'facebook') {
    // Graph API /me?fields=id,name,email
    const { id = user.sub, name, email } = user;
    return { id, name, email };
  }
  return user;
}

async function startProvider(provider, port) {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(port, HOST);
  server.issuer.url = `http://${HOST}:${port}`;
  server.service.on('beforeTokenSigning', (token) => {
    Object.assign(token.payload, state.users[provider]);
    if (state.nextToken[provider]) Object.assign(token.payload, state.nextToken[provider]);
  });
  server.service.on('beforeUserinfo', (response) => {
    response.body = userinfoBody(provider);
  });
  server.service.on('beforeResponse', (response) => {
    // Overrides last for one token response (the access token and the ID token in it).
    state.nextToken[provider] = null;
    if (state.failNextToken[provider]) {
      state.failNextToken[provider] = false;
      response.statusCode = 400;
      response.body = { error: 'invalid_grant', error_description: 'forced by the control endpoint' };
      return;
    }
    if (state.badSignatureNext[provider] && typeof response.body.id_token === 'string') {
      state.badSignatureNext[provider] = false;
      response.body.id_token = signWithRogueKey(response.body.id_token);
    }
  });
  server.service.on('beforeAuthorizeRedirect', (redirect) => {
    const error = state.denyNext[provider];
    if (!error) return;
    state.denyNext[provider] = null;
    // The same URL object the mock redirects to: change it in place.
    redirect.url.searchParams.delete('code');
    redirect.url.searchParams.set('error', error);
  });
  console.log(`${provider} ready at ${server.issuer.url}`);
  return server;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 1 << 20) reject(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        resolve(data.trim() === '' ? {} : JSON.parse(data));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function control(req, res) {
  const url = new URL(req.url, `http://${HOST}`);
  const parts = url.pathname.split('/').filter(Boolean);
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { ok: true });
  if (req.method === 'GET' && url.pathname === '/state') return send(res, 200, state);
  if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
  if (url.pathname === '/reset') {
    state = freshState();
    console.log('control: reset');
    return send(res, 200, state);
  }
  const [provider, action] = parts;
  if (parts.length !== 2 || !(provider in DEFAULT_USERS)) return send(res, 404, { error: 'not found' });
  if (action === 'users') {
    let claims;
    try {
      claims = await readJson(req);
    } catch (err) {
      return send(res, 400, { error: `invalid JSON: ${err.message}` });
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims) || typeof claims.sub !== 'string') {
      return send(res, 400, { error: 'expected a JSON object of claims with a string "sub"' });
    }
    state.users[provider] = claims;
    console.log(`control: ${provider} user is now ${claims.sub}`);
    return send(res, 200, { [provider]: claims });
  }
  if (action === 'fail-next-token') {
    state.failNextToken[provider] = true;
    console.log(`control: ${provider} fails its next token exchange`);
    return send(res, 200, { [provider]: { failNextToken: true } });
  }
  if (action === 'next-token') {
    let claims;
    try {
      claims = await readJson(req);
    } catch (err) {
      return send(res, 400, { error: `invalid JSON: ${err.message}` });
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      return send(res, 400, { error: 'expected a JSON object of claims' });
    }
    state.nextToken[provider] = claims;
    console.log(`control: ${provider} overrides claims ${Object.keys(claims).join(', ')} of its next token`);
    return send(res, 200, { [provider]: { nextToken: claims } });
  }
  if (action === 'bad-signature-next') {
    state.badSignatureNext[provider] = true;
    console.log(`control: ${provider} signs its next ID token with an unpublished key`);
    return send(res, 200, { [provider]: { badSignatureNext: true } });
  }
  if (action === 'deny-next') {
    let body;
    try {
      body = await readJson(req);
    } catch (err) {
      return send(res, 400, { error: `invalid JSON: ${err.message}` });
    }
    const error = typeof body.error === 'string' && body.error !== '' ? body.error : 'access_denied';
    state.denyNext[provider] = error;
    console.log(`control: ${provider} answers its next authorize with error=${error}`);
    return send(res, 200, { [provider]: { denyNext: error } });
  }
  return send(res, 404, { error: 'not found' });
}

const providers = [
  await startProvider('google', Number(args.google)),
  await startProvider('facebook', Number(args.facebook)),
];
const controlServer = http.createServer((req, res) => {
  control(req, res).catch((err) => send(res, 500, { error: String(err) }));
});
await new Promise((resolve, reject) => {
  controlServer.once('error', reject);
  controlServer.listen(Number(args.control), HOST, resolve);
});
console.log(`control ready at http://${HOST}:${args.control}`);

async function shutdown(signal) {
  console.log(`${signal}: stopping`);
  controlServer.close();
  await Promise.allSettled(providers.map((server) => server.stop()));
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void shutdown(signal));
