// openid-client 6 (panva) drives pushed authorization requests (RFC 9126) against a live Keyturn.
//   node par_flow.mjs start   -> prints {"url", "verifier", "state", "nonce"}: the authorization URL built
//                                with buildAuthorizationUrlWithPAR (the request was pushed to /par)
//   node par_flow.mjs finish  -> reads CALLBACK, VERIFIER, STATE, NONCE; prints the token response and claims
// KEYTURN_URL (the issuer), CLIENT_ID, CLIENT_SECRET and REDIRECT_URI come from the environment.
import * as client from 'openid-client';

const env = process.env;
const config = await client.discovery(new URL(env.KEYTURN_URL), env.CLIENT_ID, { redirect_uris: [env.REDIRECT_URI] },
  client.ClientSecretBasic(env.CLIENT_SECRET), { execute: [client.allowInsecureRequests] });

if (process.argv[2] === 'start') {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: env.REDIRECT_URI, scope: 'openid email', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce }));
} else {
  const tokens = await client.authorizationCodeGrant(config, new URL(env.CALLBACK), {
    pkceCodeVerifier: env.VERIFIER, expectedState: env.STATE, expectedNonce: env.NONCE, idTokenExpected: true,
  });
  console.log(JSON.stringify({ scope: tokens.scope, token_type: tokens.token_type, claims: tokens.claims() }));
}
