import { createHmac } from 'node:crypto';
import Provider, { interactionPolicy, type Account, type KoaContextWithOIDC } from 'oidc-provider';
import type { Sql } from 'postgres';
import type { SessionPolicy } from '../auth/sessions.ts';
import type { UserRow } from '../data/users.ts';
import type { Logger } from '../logger.ts';
import { postgresAdapter, providerRequest } from './adapter.ts';
import { KEYS_CHANNEL, signingKeys } from './keys.ts';
import { queueProviderLogout } from './logout.ts';
import { errorPage, logoutSource, postLogoutSuccessSource } from './pages.ts';

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

/**
 * The provider's sessions are Roster's: besides its own reasons, it asks (sends the browser to the
 * console's page, or answers `login_required` to `prompt=none`) whenever the request does not carry
 * a valid Roster session of the person its session is for. A Roster session that ran out, or a
 * different person signed in to Roster in the same browser, never gets a code from the provider's
 * cookie alone.
 */
function rosterInteractionPolicy() {
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    // Also when the request resumes after the console's authorization page (`result.login`, whose
    // account the provider's session now is): the page's decision alone is not enough. A Roster
    // session ended since, or another person's decision on this request (its uid leaked), must
    // not end with a code in this browser.
    new interactionPolicy.Check('roster_session', 'Sign in to Roster', 'login_required', (ctx) => {
      const roster = providerRequest.getStore();
      return roster?.userId && roster.userId === ctx.oidc.session?.accountId
        ? interactionPolicy.Check.NO_NEED_TO_PROMPT
        : interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  return policy;
}

interface ProviderOptions {
  sql: Sql;
  origin: string;
  sessionPolicy: SessionPolicy;
  trustProxy: boolean;
  log: Logger;
}

/**
 * The provider of this node, rebuilt when the signing keys change: `rotate-signing-key` announces a
 * new key and every node publishes and signs with it at once (the provider reads its keys only when
 * it is made). A reconnected listener rebuilds too, in case it missed an announcement.
 */
export class OpenIdProvider {
  current!: Provider;
  /** The provider's Node request handler. */
  handle!: ReturnType<Provider['callback']>;
  private listening: { unlisten(): Promise<void> } | null = null;

  private constructor(private readonly options: ProviderOptions) {}

  static async start(options: ProviderOptions): Promise<OpenIdProvider> {
    const host = new OpenIdProvider(options);
    await host.load();
    const reload = () => void host.load().catch((error: unknown) => options.log.error({ err: error }, 'reloading the openid provider failed'));
    host.listening = await options.sql.listen(KEYS_CHANNEL, reload, reload);
    return host;
  }

  get issuer(): string {
    return this.current.issuer;
  }

  async stop(): Promise<void> {
    await this.listening?.unlisten().catch(() => undefined);
  }

  private async load() {
    const provider = await createProvider(this.options);
    this.current = provider;
    this.handle = provider.callback();
  }
}

async function createProvider(options: ProviderOptions): Promise<Provider> {
  const { sql, log } = options;
  const keys = await signingKeys(sql);
  const provider = new Provider(`${options.origin}${PROVIDER_PATH}`, {
    adapter: postgresAdapter(sql),
    jwks: { keys },
    // The provider's cookies (its short interaction state) are signed with keys every node derives
    // from the signing keys (no second secret to distribute); the retired ones still verify, so a
    // sign-in under way survives a rotation.
    cookies: { keys: keys.map((key) => createHmac('sha256', String(key.d)).update('roster oidc cookies').digest('base64url')) },
    findAccount: (_ctx, sub) => findAccount(sql, sub),
    responseTypes: ['code'],
    // Roster's keys are P-256: ID tokens are signed with them unless an application asks otherwise.
    clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], id_token_signed_response_alg: 'ES256' },
    claims: CLAIMS,
    scopes: ['openid', 'offline_access', ...Object.keys(CLAIMS).filter((s) => s !== 'openid')],
    features: {
      devInteractions: { enabled: false },
      // An application learns about its own tokens only, and revokes only its own.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      backchannelLogout: { enabled: true },
      // An application's own sign-out ends the provider's session in that browser (every application
      // signed in through it is told); the Roster console session is left alone.
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
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
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PAGE}/${interaction.uid}`, policy: rosterInteractionPolicy() },
    clientBasedCORS: () => false,
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(String(out.error), String(out.error_description ?? ''));
    },
  });
  provider.proxy = options.trustProxy;
  // The provider's own back-channel logouts go through Roster's outbox too (oidc/logout.ts).
  provider.Client.prototype.backchannelLogout = async function (this: InstanceType<Provider['Client']>, sub: string, sid: string) {
    await queueProviderLogout(sql, { client_id: this.clientId, account_id: sub, sid });
  };
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
