import type Provider from 'oidc-provider';
import type { Sql } from 'postgres';
import type { Authorization, User } from '@roster/shared';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import { AppError } from '../errors.ts';
import { recordEvent } from '../services/events.ts';
import { mayUseApplication } from '../services/applications.ts';
import { providerRequest, providerTransaction } from './adapter.ts';
import type { ApplicationRow } from './clients.ts';

// The sign-in and consent steps of an application's authorization request, run by the console's
// /authorize/:uid page for the person signed in to Roster: Roster's session is the provider's, so
// someone signed in is not asked to sign in again, only (once per application) whether it may
// read what it asks for.

interface Pending {
  interaction: InstanceType<Provider['Interaction']>;
  app: ApplicationRow;
  scopes: string[];
}

async function pending(provider: Provider, sql: Sql, uid: string, user: User): Promise<Pending> {
  const interaction = await provider.Interaction.find(uid);
  const expired = () => new AppError('not_found', 'This sign-in request has expired; start again from the application');
  if (!interaction) throw expired();
  // Only the person signed in to Roster when the request was made sees and decides it (when
  // someone was): its uid in someone else's hands lets them neither answer it nor refuse it.
  const [made] = await sql<{ user_id: string }[]>`
    SELECT s.user_id FROM oidc_payloads i JOIN sessions s ON s.id = i.roster_session_id
    WHERE i.model = 'Interaction' AND i.id = ${uid}`;
  if (made && made.user_id !== user.id) throw expired();
  const [app] = await sql<ApplicationRow[]>`SELECT * FROM applications WHERE client_id = ${String(interaction.params.client_id)}`;
  if (!app) throw new AppError('not_found', 'This application is no longer registered');
  const supported = new Set(['openid', 'offline_access', 'profile', 'email', 'roles']);
  const scopes = String(interaction.params.scope ?? '').split(' ').filter((scope) => supported.has(scope));
  return { interaction, app, scopes };
}

/** What the user last allowed the application, in any browser. */
async function latestGrant(sql: Sql, userId: string, clientId: string) {
  const [grant] = await sql<{ scope: string | null }[]>`
    SELECT payload->'openid'->>'scope' AS scope FROM oidc_payloads
    WHERE model = 'Grant' AND account_id = ${userId} AND payload->>'clientId' = ${clientId} AND (expires_at IS NULL OR expires_at > now())
    ORDER BY (payload->>'iat')::bigint DESC LIMIT 1`;
  return grant;
}

export async function authorizationDetails(provider: Provider, sql: Sql, uid: string, user: User): Promise<Authorization & { permitted: boolean }> {
  const { interaction, app, scopes } = await pending(provider, sql, uid, user);
  const grant = await latestGrant(sql, user.id, app.client_id);
  const granted = new Set((grant?.scope ?? '').split(' '));
  return {
    uid: interaction.uid,
    application: { name: app.name, client_id: app.client_id },
    scopes,
    consented: Boolean(grant) && scopes.every((scope) => granted.has(scope)),
    permitted: await mayUseApplication(sql, app, user),
  };
}

/**
 * Records the person's answer on the interaction and returns where the browser goes next (the
 * provider, which then redirects to the application with a code, or with `access_denied`).
 */
export async function decideAuthorization(
  provider: Provider,
  sql: Sql,
  uid: string,
  actor: Actor,
  user: User,
  session: { id: string; authenticated_at: Date },
  allow: boolean,
): Promise<{ redirect: string }> {
  const { interaction, app: asked, scopes } = await pending(provider, sql, uid, user);
  // One transaction, with the grant and the answer written in it: the person is checked to be
  // still active and signed in (their row and session held), and the application to still let
  // them in (its row held). A deactivation, password reset, sign-out or an edit of the application
  // that ends sign-ins waits for this, and then ends this grant too; or this sees it and refuses.
  return transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    const [app] = await tx<ApplicationRow[]>`SELECT * FROM applications WHERE id = ${asked.id} FOR SHARE`;
    if (!app) throw new AppError('not_found', 'This application is no longer registered');
    const permitted = await mayUseApplication(tx, app, user);
    if (!allow || !permitted) {
      interaction.result = {
        error: 'access_denied',
        error_description: permitted ? 'The user declined' : 'The user may not use this application',
      };
    } else {
      // In the audit log and on the live channel (the session's applications).
      recordEvent(tx, actor, {
        action: 'application.signed_in',
        targetType: 'application',
        targetId: app.id,
        targetLabel: app.name,
        data: { user_id: user.id, session_id: session.id, scopes },
      });
      // A grant per provider session: signing out in one browser ends that browser's tokens only.
      const grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
      const consent = grant && grant.accountId === user.id ? grant : new provider.Grant({ accountId: user.id, clientId: app.client_id });
      consent.addOIDCScope(scopes.join(' '));
      interaction.result = {
        login: { accountId: user.id, ts: Math.floor(session.authenticated_at.getTime() / 1000), amr: ['pwd'] },
        // Made in this Roster session: ending it ends the grant too, even before the redirect
        // has put it in a provider session.
        consent: { grantId: await providerRequest.run({ rosterSessionId: session.id, userId: user.id }, () => providerTransaction.run(tx, () => consent.save())) },
      };
    }
    await providerTransaction.run(tx, () => interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000))));
    return { redirect: interaction.returnTo };
  });
}
