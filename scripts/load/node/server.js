// node-oidc-provider set up like Poortwachter's benchmark portal, for scripts/load/compare.sh:
// the same flows measured against both servers in one run (docs/benchmarks.md, "Method:
// comparison with node-oidc-provider").
//
// What it mirrors of Poortwachter:
// - one confidential client: client_secret_basic, authorization_code only, PKCE (S256) required,
//   scopes `openid profile`, ID tokens signed with ES256 (Poortwachter's default);
// - access tokens as ES256 JWTs (RFC 9068) like Poortwachter's, through a resource indicator that
//   every grant carries, instead of node-oidc-provider's default of opaque tokens;
// - lifetimes: code 60 s, access and ID token 600 s, session 8 h, interaction 30 min;
// - people: `ACCOUNTS` users `<USER_PREFIX>1` … `<USER_PREFIX><ACCOUNTS>` held in a Map, each with
//   an Argon2id hash at m = 19456 KiB, t = 2, p = 1 (checked at start), verified with
//   @node-rs/argon2; an unknown username is checked against a dummy hash, as Poortwachter does;
// - a plain HTML sign-in form (username + password, POST) for the login prompt, and consent
//   granted with it, as Poortwachter's first-party portal asks no consent;
// - everything (sessions, interactions, codes, grants) in memory, in a Map with expiry: the
//   provider's own development adapter is an LRU of 1,000 entries that would evict the
//   sessions of a load test within a second.
//
// Environment: PORT (18182), ISSUER (http://127.0.0.1:PORT), CLIENT_ID, CLIENT_SECRET,
// REDIRECT_URI, ACCOUNTS (1000), USER_PREFIX (u), and either PASSWORD_HASH (a PHC string, the
// one Poortwachter's accounts have, so both servers verify the very same hash) or PASSWORD
// (hashed here at start). GET /health answers 200 once the server listens.

import { randomBytes, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';
import { hash, verify, parseOptions } from '@node-rs/argon2';

const env = process.env;
const port = Number(env.PORT || 18182);
const issuer = env.ISSUER || `http://127.0.0.1:${port}`;
const clientId = required('CLIENT_ID');
const clientSecret = required('CLIENT_SECRET');
const redirectUri = required('REDIRECT_URI');
const accounts = Number(env.ACCOUNTS || 1000);
const userPrefix = env.USER_PREFIX || 'u';
// Access tokens are issued for this resource, so that they are JWTs (see resourceIndicators).
const resource = `${issuer}/bench-portal`;

// Argon2id, RFC 9106, with OWASP's parameters: the same as Poortwachter's argon2 defaults.
const ARGON2ID = 2; // @node-rs/argon2's Algorithm.Argon2id (a TypeScript const enum)
const argonOptions = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 };

function required(name) {
  const value = env[name];
  if (!value) {
    console.error(`server.js: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

// Usernames as Poortwachter compares them: NFKC, trimmed, inner whitespace collapsed, lower case.
function normalise(username) {
  return username.normalize('NFKC').trim().split(/\s+/).join(' ').toLowerCase();
}

const passwordHash = env.PASSWORD_HASH || (await hash(required('PASSWORD'), argonOptions));
{
  const p = parseOptions(passwordHash);
  if (p.algorithm !== ARGON2ID || p.memoryCost !== 19456 || p.timeCost !== 2 || p.parallelism !== 1) {
    console.error(`server.js: the password hash is not Argon2id m=19456,t=2,p=1: ${JSON.stringify(p)}`);
    process.exit(2);
  }
}
const dummyHash = await hash('node-bench-dummy-password', argonOptions);

// username → Argon2id PHC string. Every account has the same password, so they share one hash
// (one verification costs the same whatever the salt); each lookup is a real Map lookup.
const users = new Map();
for (let i = 1; i <= accounts; i += 1) {
  users.set(normalise(`${userPrefix}${i}`), passwordHash);
}

// ---------------------------------------------------------------------------------------------
// Storage: a Map with expiry per model, shared by all models (the adapter interface of
// node-oidc-provider: upsert, find, findByUid, findByUserCode, consume, destroy, revokeByGrantId).

const entries = new Map(); // `${model}:${id}` → { payload, expiresAt (ms), grantId, uid }
const byGrant = new Map(); // grantId → Set of entry keys
const byUid = new Map(); // session uid → entry key
const byUserCode = new Map(); // device user code → entry key

function forget(key, entry) {
  entries.delete(key);
  if (entry.grantId) byGrant.get(entry.grantId)?.delete(key);
  if (entry.uid && byUid.get(entry.uid) === key) byUid.delete(entry.uid);
  if (entry.userCode && byUserCode.get(entry.userCode) === key) byUserCode.delete(entry.userCode);
}

function live(key) {
  const entry = entries.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    forget(key, entry);
    return undefined;
  }
  return entry;
}

// Expired entries that nobody asks for again are swept every 10 s.
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of entries) {
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) forget(key, entry);
  }
  for (const [grantId, keys] of byGrant) {
    if (keys.size === 0) byGrant.delete(grantId);
  }
}, 10_000).unref();

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const old = entries.get(key);
    if (old) forget(key, old);
    const entry = {
      payload,
      expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined,
      grantId: payload.grantId,
      uid: payload.uid,
      userCode: payload.userCode,
    };
    entries.set(key, entry);
    if (entry.grantId) {
      let keys = byGrant.get(entry.grantId);
      if (!keys) byGrant.set(entry.grantId, (keys = new Set()));
      keys.add(key);
    }
    if (this.model === 'Session' && entry.uid) byUid.set(entry.uid, key);
    if (entry.userCode) byUserCode.set(entry.userCode, key);
  }

  async find(id) {
    return live(this.key(id))?.payload;
  }

  async findByUid(uid) {
    const key = byUid.get(uid);
    return key ? live(key)?.payload : undefined;
  }

  async findByUserCode(userCode) {
    const key = byUserCode.get(userCode);
    return key ? live(key)?.payload : undefined;
  }

  async consume(id) {
    const entry = live(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const entry = entries.get(key);
    if (entry) forget(key, entry);
  }

  async revokeByGrantId(grantId) {
    const keys = byGrant.get(grantId);
    if (!keys) return;
    for (const key of [...keys]) {
      const entry = entries.get(key);
      if (entry) forget(key, entry);
    }
    byGrant.delete(grantId);
  }
}

// ---------------------------------------------------------------------------------------------
// Signing keys: ES256 (ID and access tokens) and RS256 (published, as Poortwachter publishes both).

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg, use: 'sig' };
}

const jwks = {
  keys: [signingKey('ec', { namedCurve: 'P-256' }, 'ES256'), signingKey('rsa', { modulusLength: 2048 }, 'RS256')],
};

const provider = new Provider(issuer, {
  adapter: MemoryAdapter,
  jwks,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'openid profile',
    },
  ],
  scopes: ['openid', 'profile'],
  claims: {
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'profile',
        audience: clientId,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 600,
    Interaction: 30 * 60,
    Session: 8 * 3600,
    Grant: 8 * 3600,
  },
  async findAccount(ctx, sub) {
    if (!users.has(sub)) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, name: `Bench ${sub}`, given_name: 'Bench', family_name: sub, preferred_username: sub };
      },
    };
  },
  async renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `${out.error}: ${out.error_description || ''}\n`;
  },
});

// ---------------------------------------------------------------------------------------------
// The sign-in page: GET /interaction/:uid shows the form, POST /interaction/:uid/login checks
// the password and finishes the interaction with the login and the consent in one step.

function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

function send(res, status, type, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

function page(res, status, uid, username, error) {
  send(
    res,
    status,
    'text/html; charset=utf-8',
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>Username <input name="username" autocomplete="username" value="${escapeHtml(username)}" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>
</body></html>
`,
  );
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Consent for what the portal asked, given without asking (a first-party portal).
async function grantFor(details, accountId) {
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  grant.addResourceScope(resource, 'profile');
  return grant.save();
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, 'text/plain', 'interaction mismatch\n');
    return;
  }
  const prompt = details.prompt.name;
  if (prompt === 'consent') {
    const grantId = await grantFor(details, details.session.accountId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (prompt !== 'login') {
    send(res, 400, 'text/plain', `unexpected prompt ${prompt}\n`);
    return;
  }
  if (action === undefined && req.method === 'GET') {
    page(res, 200, uid, '', '');
    return;
  }
  if (action !== 'login' || req.method !== 'POST') {
    send(res, 405, 'text/plain', 'method not allowed\n');
    return;
  }
  const form = await readForm(req);
  const username = form.get('username') || '';
  const password = form.get('password') || '';
  const stored = users.get(normalise(username));
  // An unknown username costs a verification too, so the answer takes as long.
  const ok = (await verify(stored || dummyHash, password)) && stored !== undefined;
  if (!ok) {
    page(res, 200, uid, username, 'Unknown username or wrong password.');
    return;
  }
  const accountId = normalise(username);
  const grantId = await grantFor(details, accountId);
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const callback = provider.callback();
const interactionPath = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/;

const server = createServer((req, res) => {
  const path = req.url.split('?', 1)[0];
  if (path === '/health') {
    send(res, 200, 'text/plain', 'ok\n');
    return;
  }
  const match = interactionPath.exec(path);
  if (!match) {
    callback(req, res);
    return;
  }
  interaction(req, res, match[1], match[2]).catch((err) => {
    if (res.headersSent) return;
    if (err instanceof errors.SessionNotFound) {
      send(res, 400, 'text/plain', `${err.message}\n`);
    } else {
      console.error(err);
      send(res, 500, 'text/plain', 'internal error\n');
    }
  });
});

server.keepAliveTimeout = 75_000;
server.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider ${issuer}: ${accounts} accounts, client ${clientId}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
