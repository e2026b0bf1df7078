import type { Sql } from 'postgres';
import type { AdapterPayload } from 'oidc-provider';

// Roster's applications are the OpenID provider's clients: read from the `applications` table on
// every lookup (no copy to fall out of date), authorization code flow with PKCE only.

export interface ApplicationRow {
  id: string;
  name: string;
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  backchannel_logout_uri: string | null;
  forward_auth_host: string | null;
  access: 'everyone' | 'roles' | 'users';
  allowed_roles: string[];
  enabled: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** The client the provider sees for `clientId`; none for a disabled or unknown application. */
export async function clientMetadata(sql: Sql, clientId: string): Promise<AdapterPayload | undefined> {
  const [app] = await sql<ApplicationRow[]>`SELECT * FROM applications WHERE client_id = ${clientId} AND enabled`;
  if (!app || app.redirect_uris.length === 0) return undefined;
  return {
    client_id: app.client_id,
    client_secret: app.client_secret,
    client_name: app.name,
    redirect_uris: app.redirect_uris,
    post_logout_redirect_uris: app.post_logout_redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    // Delivered by Roster's own outbox (oidc/logout.ts), not by the provider.
    ...(app.backchannel_logout_uri ? { backchannel_logout_uri: app.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
  };
}
