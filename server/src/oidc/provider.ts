import { createHmac } from 'node:crypto';
import Provider, { type Account, type KoaContextWithOIDC } from 'oidc-provider';
import type { Sql } from 'postgres';
import type { SessionPolicy } from '../auth/sessions.ts';
import type { UserRow } from '../data/users.ts';
import type { Logger } from '../logger.ts';
import { postgresAdapter } from './adapter.ts';
import { signingKeys } from './keys.ts';

// The OpenID provider: the certified `oidc-provider`, configured for Roster. Authorization code flow
// with PKCE only; short access tokens; refresh tokens for `offline_access`; introspection and
// revocation; back-channel logout announced (Roster delivers it itself, oidc/logout.ts). Its
// sign-in and consent steps are console pages (`/authorize/:uid`), which use Roster's own session.

/** Where the provider is mounted; its issuer is the console's public origin plus this path. */
export const PROVIDER_PATH = '/oidc';
/** The console page that runs an authorization's sign-in and consent steps. */
export const INTERACTION_PAGE = '/authorize';

const ACCESS_TOKEN_SECONDS = 5 * 60;

/** The claims an application may ask for, by scope. */
const CLAIMS = {
  openid: ['sub'],
  profile: ['preferred_username', 'name'],
  email: ['email', 'email_verified'],
  roles: ['roles'],
};

export async function createProvider(options: {
  sql: Sql;
  origin: string;
  sessionPolicy: SessionPolicy;
  trustProxy: boolean;
  log: Logger;
}): Promise<Provider> {
  const { sql, log } = options;
  const keys = await signingKeys(sql);
  const provider = new Provider(`${options.origin}${PROVIDER_PATH}`, {
    adapter: postgresAdapter(sql),
    jwks: { keys },
    // The provider's cookies (its short interaction state) are signed with a key every node derives
    // from the signing key: no second secret to distribute.
    cookies: { keys: [createHmac('sha256', String(keys[0]!.d)).update('roster oidc cookies').digest('base64url')] },
    findAccount: (_ctx, sub) => findAccount(sql, sub),
    responseTypes: ['code'],
    // Roster's keys are P-256: ID tokens are signed with them unless an application asks otherwise.
    clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], id_token_signed_response_alg: 'ES256' },
    claims: CLAIMS,
    scopes: ['openid', 'offline_access', ...Object.keys(CLAIMS).filter((s) => s !== 'openid')],
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: ACCESS_TOKEN_SECONDS,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      Interaction: 10 * 60,
      // A provider session ends with the Roster session it was made in; these are upper bounds.
      Session: Math.floor(options.sessionPolicy.maxAgeMs / 1000),
      Grant: Math.floor(options.sessionPolicy.maxAgeMs / 1000),
      RefreshToken: Math.floor(options.sessionPolicy.maxAgeMs / 1000),
    },
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PAGE}/${interaction.uid}` },
    clientBasedCORS: () => false,
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(String(out.error), String(out.error_description ?? ''));
    },
  });
  provider.proxy = options.trustProxy;
  provider.on('server_error', (_ctx: KoaContextWithOIDC, error: Error) => log.error({ err: error }, 'openid provider error'));
  return provider;
}

/** An active user, with the claims applications may read. Inactive or unknown users are nobody. */
async function findAccount(sql: Sql, sub: string): Promise<Account | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(sub)) return undefined;
  const [user] = await sql<UserRow[]>`SELECT * FROM users WHERE id = ${sub} AND status = 'active'`;
  if (!user) return undefined;
  return {
    accountId: user.id,
    claims: () => ({
      sub: user.id,
      preferred_username: user.username,
      name: user.display_name,
      email: user.email,
      email_verified: false,
      roles: [user.role],
    }),
  };
}

function errorPage(error: string, description: string): string {
  const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in failed · Roster</title><style>body{font:16px system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f5f6f8;color:#1c2330}
main{max-width:26rem;padding:2rem;background:#fff;border:1px solid #dde1e8;border-radius:12px}h1{font-size:1.3rem;margin:0 0 .5rem}p{color:#5b6472}</style></head>
<body><main><h1>The sign-in could not continue</h1><p>${escape(description || error)}</p><p><small>${escape(error)}</small></p></main></body></html>`;
}
