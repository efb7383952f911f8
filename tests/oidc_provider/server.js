// Test only: a real OpenID provider (panva's oidc-provider, certified) on loopback for
// SecureDrive's sign-in tests (tests/test_sso_*.py start it, one per test process).
//
//   node server.js PORT RELYING_PARTY_URL
//
// Prints "ready ISSUER" on stdout when it listens. Two confidential clients:
//   securedrive        redirect URIs RELYING_PARTY_URL/sso/<slug>/callback/ for the slugs
//                      "test" and "forged", back-channel logout to /sso/test/backchannel-logout/
//   securedrive-signed-userinfo  the same, with UserInfo answered as a signed JWT
//   other-application  another relying party of the same provider (its tokens carry the
//                      wrong audience for SecureDrive)
// PKCE (S256) is required for both. Admin hooks under /admin/ (loopback, tests only):
//   POST /admin/account    {login, sub, email, email_verified, name, claims}
//   POST /admin/assurance  {acr, amr}: what the next sign-ins assert
//   POST /admin/rotate     a new signing key; the old one leaves the JWKS
//   POST /admin/logout-token {sub, sid, client_id, events, nonce, jti}: a logout token
//                          signed by the provider, returned instead of sent
//   GET  /admin/stats      {jwks_requests, backchannel_logouts, kids}
// The provider's own pages never load anything from outside (no web fonts).
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const relyingParty = (process.argv[3] || '').replace(/\/$/, '');
if (!port || !relyingParty) {
  console.error('usage: node server.js PORT RELYING_PARTY_URL');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const accounts = new Map();
const assurance = { acr: 'urn:securedrive:test:password', amr: ['pwd'] };
const stats = { jwks_requests: 0, backchannel_logouts: 0 };

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

async function signingKey() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function accountFor(login) {
  return accounts.get(login) || {
    sub: `sub-${login}`, email: login, email_verified: true, name: login, claims: {},
  };
}

function configuration(keys) {
  return {
    clients: [
      {
        client_id: 'securedrive',
        client_secret: 'securedrive-test-client-secret',
        client_name: 'SecureDrive',
        redirect_uris: ['test', 'forged'].map((slug) => `${relyingParty}/sso/${slug}/callback/`),
        post_logout_redirect_uris: [`${relyingParty}/`],
        // Node may try ::1 first for "localhost"; the live server listens on 127.0.0.1.
        backchannel_logout_uri: `${relyingParty.replace('://localhost', '://127.0.0.1')}/sso/test/backchannel-logout/`,
        backchannel_logout_session_required: true,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        // Same application, answering UserInfo as a signed JWT (as some national
        // providers do).
        client_id: 'securedrive-signed-userinfo',
        client_secret: 'securedrive-test-client-secret',
        redirect_uris: [`${relyingParty}/sso/signed-userinfo/callback/`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        userinfo_signed_response_alg: 'RS256',
      },
      {
        client_id: 'other-application',
        client_secret: 'other-application-test-secret',
        redirect_uris: [`${issuer}/other-application/callback`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys },
    // oidc-provider refuses to call loopback addresses (SSRF protection); here the
    // relying party is on loopback by design, so its back-channel requests go through.
    fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }),
    cookies: { keys: ['test-only-cookie-signing-key'] },
    pkce: { required: () => true },
    acrValues: [
      'urn:securedrive:test:password',
      'eidas1',
      'https://proconnect.gouv.fr/assurance/self-asserted',
    ],
    claims: {
      acr: null, amr: null, sid: null, auth_time: null, iss: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      scope_all: ['SubjectRefPro', 'SubjectNameID', 'SubjectOrganization'],
    },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      claimsParameter: { enabled: true },
      jwtUserinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out of the test provider?', `${form}`
            + '<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>');
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out of the test provider', '<p>You are signed out.</p>');
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const known = [...accounts.values()].find((account) => account.sub === id)
        || accountFor(id.replace(/^sub-/, ''));
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: known.email,
            email_verified: known.email_verified,
            name: known.name,
            ...known.claims,
          };
        },
      };
    },
    // First-party test client: consent is given on the person's behalf.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile scope_all');
      grant.addOIDCClaims(['acr', 'amr', 'auth_time', 'email', 'email_verified', 'name', 'SubjectRefPro', 'SubjectNameID']);
      await grant.save();
      return grant;
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Test provider error', `<pre>${escapeHtml(JSON.stringify(out))}</pre>`);
    },
  };
}

function makeProvider(keys) {
  const provider = new Provider(issuer, configuration(keys));
  provider.on('backchannel.success', () => { stats.backchannel_logouts += 1; });
  provider.on("backchannel.error", (ctx, error) => console.error("backchannel error", error.message, error.cause));
  provider.on('server_error', (ctx, error) => console.error('server error', error));
  return provider;
}

let keys = [await signingKey()];
let provider = makeProvider(keys);

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function json(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function admin(req, res, path) {
  if (req.method === 'GET' && path === '/admin/stats') {
    return json(res, 200, { ...stats, kids: keys.map((key) => key.kid) });
  }
  const body = req.method === 'POST' ? JSON.parse((await readBody(req)) || '{}') : {};
  if (path === '/admin/account') {
    accounts.set(body.login, {
      sub: body.sub, email: body.email, email_verified: body.email_verified ?? true,
      name: body.name || body.email, claims: body.claims || {},
    });
    return json(res, 200, { ok: true });
  }
  if (path === '/admin/assurance') {
    assurance.acr = body.acr;
    assurance.amr = body.amr || [];
    return json(res, 200, { ok: true });
  }
  if (path === '/admin/rotate') {
    // The new provider instance shares the in-memory store (sessions, grants): only the
    // signing key changes, as in a real rotation.
    keys = [await signingKey()];
    provider = makeProvider(keys);
    return json(res, 200, { kids: keys.map((key) => key.kid) });
  }
  if (path === '/admin/logout-token') {
    // The logout token the provider itself would send (lib/models/client.js,
    // backchannelLogout), signed with its current key, handed to the test instead of
    // posted: replay and malformed variants are then the provider's own tokens.
    const client = await provider.Client.find(body.client_id || 'securedrive');
    const token = new provider.IdToken({ sub: body.sub }, { client, ctx: undefined });
    token.mask = { sub: null };
    if (body.events !== false) {
      token.set('events', { 'http://schemas.openid.net/event/backchannel-logout': {} });
    }
    token.set('jti', body.jti || randomUUID());
    if (body.sid) token.set('sid', body.sid);
    if (body.nonce) token.set('nonce', body.nonce);
    return json(res, 200, { logout_token: await token.issue({ use: 'logout' }) });
  }
  return json(res, 404, { error: 'unknown admin hook' });
}

async function interaction(req, res, path) {
  const [, , uid, step] = path.split('/');
  if (req.method === 'GET' && !step) {
    await provider.interactionDetails(req, res);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page('Sign in at the test provider',
      `<form method="post" action="/interaction/${escapeHtml(uid)}/login">`
      + '<label for="login">Identifier</label> <input id="login" name="login" autocomplete="username">'
      + '<button type="submit">Continue</button></form>'));
    return undefined;
  }
  if (req.method === 'POST' && step === 'login') {
    await provider.interactionDetails(req, res);
    const login = new URLSearchParams(await readBody(req)).get('login') || '';
    const account = accountFor(login);
    return provider.interactionFinished(req, res, {
      login: { accountId: account.sub, acr: assurance.acr, amr: assurance.amr },
    }, { mergeWithLastSubmission: false });
  }
  res.writeHead(404);
  res.end();
  return undefined;
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    if (path === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    if (path.startsWith('/admin/')) return await admin(req, res, path);
    if (path.startsWith('/interaction/')) return await interaction(req, res, path);
    if (path === '/jwks') stats.jwks_requests += 1;
    return provider.callback()(req, res);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) res.writeHead(500);
    res.end(String(error));
    return undefined;
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
