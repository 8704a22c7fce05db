// openid-client 6 (panva) runs the FAPI 2.0 flow against a live Keyturn (docs/fapi2.md, "What an integrator's
// client sends"): pushed authorization request, code with PKCE S256, a sender-constrained token, userinfo, refresh.
//   node fapi2_flow.mjs  -> prints a line {"url", "state", "nonce"}: the authorization URL built with
//                           buildAuthorizationUrlWithPAR (the request was pushed to /par); then reads the callback
//                           URL from stdin, redeems the code, calls userinfo, refreshes, calls userinfo again and
//                           prints a line with what it got
// Environment: KEYTURN_URL (the issuer), CLIENT_ID, REDIRECT_URI and MODE:
//   MODE=dpop  private_key_jwt (CLIENT_KEY: the client's private JWK, ES256, with its kid) and DPoP-bound tokens
//              (DPOP_KEY: the DPoP private JWK, ES256); plain http to a test server: allowInsecureRequests
//   MODE=mtls  tls_client_auth and certificate-bound tokens through a TLS-terminating proxy: every request goes
//              through Node's https module presenting TLS_CERT/TLS_KEY (PEM files), trusting TLS_CA
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { createInterface } from 'node:readline';
import * as client from 'openid-client';

const env = process.env;
const EC = { name: 'ECDSA', namedCurve: 'P-256' };

// A JWK (with "d") as the CryptoKeyPair openid-client signs with; the public half extractable (it goes in the
// DPoP proof's header).
async function keyPair(jwk) {
  const { d, ...pub } = jwk;
  return {
    privateKey: await crypto.subtle.importKey('jwk', jwk, EC, false, ['sign']),
    publicKey: await crypto.subtle.importKey('jwk', pub, EC, true, ['verify']),
  };
}

// customFetch over node:https with the client certificate (the npm `undici` package, whose Agent takes
// `connect: {cert, key, ca}`, is not installed; Node 20's built-in fetch does not export its Agent).
function mtlsFetch(agent) {
  return (url, options) => new Promise((resolve, reject) => {
    const body = options.body == null ? undefined : options.body.toString();
    const headers = { ...options.headers };
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const req = https.request(url, { method: options.method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const answer = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const one of [].concat(value ?? [])) answer.append(name, one);
        }
        const empty = [204, 304].includes(res.statusCode);
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status: res.statusCode, headers: answer }));
      });
    });
    req.on('error', reject);
    options.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')));
    req.end(body);
  });
}

const metadata = { redirect_uris: [env.REDIRECT_URI], id_token_signed_response_alg: 'ES256' };
let config;
let DPoP;
if (env.MODE === 'mtls') {
  const agent = new https.Agent({ cert: readFileSync(env.TLS_CERT), key: readFileSync(env.TLS_KEY),
    ca: readFileSync(env.TLS_CA) });
  const fetch = mtlsFetch(agent);
  config = await client.discovery(new URL(env.KEYTURN_URL), env.CLIENT_ID, metadata, client.TlsClientAuth(),
    { [client.customFetch]: fetch });
  config[client.customFetch] = fetch;
} else {
  const key = await keyPair(JSON.parse(env.CLIENT_KEY));
  config = await client.discovery(new URL(env.KEYTURN_URL), env.CLIENT_ID, metadata,
    client.PrivateKeyJwt({ key: key.privateKey, kid: JSON.parse(env.CLIENT_KEY).kid }),
    { execute: [client.allowInsecureRequests] });
  DPoP = client.getDPoPHandle(config, await keyPair(JSON.parse(env.DPOP_KEY)));
}

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: env.REDIRECT_URI, scope: 'openid email', state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
}, { DPoP });
console.log(JSON.stringify({ url: url.href, state, nonce }));

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const callback = (await lines.next()).value;
const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true };
// RFC 9207: a callback whose iss is not the issuer's is refused before the code is sent anywhere
const forged = new URL(callback);
forged.searchParams.set('iss', 'https://attacker.example');
let forgedIss = null;
try {
  await client.authorizationCodeGrant(config, forged, checks, undefined, { DPoP });
} catch (err) {
  forgedIss = { code: err.code, message: err.message, cause: { code: err.cause?.code, message: err.cause?.message } };
}
const tokens = await client.authorizationCodeGrant(config, new URL(callback), checks, undefined, { DPoP });
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
const userinfoAfter = await client.fetchUserInfo(config, refreshed.access_token, claims.sub, { DPoP });
console.log(JSON.stringify({
  forged_iss: forgedIss,
  token: { token_type: tokens.token_type, scope: tokens.scope, access_token: tokens.access_token,
    refresh_token: tokens.refresh_token, id_token: tokens.id_token },
  claims, userinfo,
  refreshed: { token_type: refreshed.token_type, access_token: refreshed.access_token,
    refresh_token: refreshed.refresh_token ?? null },
  userinfo_after: userinfoAfter,
}));
process.exit(0);
