import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import type { Sql, TransactionSql } from 'postgres';
import { beforeCommit, transaction } from '../data/transaction.ts';
import type { Logger } from '../logger.ts';
import { signingKeys } from './keys.ts';

// Ending what applications hold: in the transaction that deactivates, deletes, resets or signs
// someone out, the provider's sessions, grants and tokens of that account (or of that Roster
// session) are deleted, so no refresh or introspection works from then on, and for every
// application they signed in to, a back-channel logout is written to the outbox. A worker on any
// node delivers those: a logout token signed with the provider's key, POSTed to the application,
// retried with growing pauses; the rows are the delivery log.

export const LOGOUT_CHANNEL = 'roster_logouts';
// After this long an undelivered logout is given up (the application's own sessions have surely
// expired by then); its row keeps the last error.
const GIVE_UP_AFTER_MS = 24 * 60 * 60 * 1000;
const DELIVERY_TIMEOUT_MS = 5000;
const POLL_MS = 5000;
// A delivery claimed by a node that then dies is tried again by another after this long.
const LEASE_MS = 30_000;
const BATCH = 20;

type Scope = { accountId: string } | { rosterSessionIds: string[] } | 'everyone';

interface ProviderSession {
  account_id: string | null;
  payload: { authorizations?: Record<string, { sid?: string; grantId?: string }> };
}

/**
 * Ends the provider's sessions, grants and tokens in `scope` and queues a back-channel logout for
 * each application signed in through them, in the caller's transaction.
 */
export async function endApplicationSessions(tx: TransactionSql, scope: Scope, reason: string): Promise<void> {
  if (typeof scope === 'object' && 'rosterSessionIds' in scope && scope.rosterSessionIds.length === 0) return;
  const where =
    scope === 'everyone'
      ? tx`true`
      : 'accountId' in scope
        ? tx`account_id = ${scope.accountId}`
        : tx`roster_session_id = ANY(${scope.rosterSessionIds}::uuid[])`;
  const sessions = await tx<ProviderSession[]>`
    DELETE FROM oidc_payloads WHERE model = 'Session' AND ${where} RETURNING account_id, payload`;
  const grantIds = sessions.flatMap((s) => Object.values(s.payload.authorizations ?? {}).map((a) => a.grantId).filter((id): id is string => Boolean(id)));
  if (typeof scope === 'object' && 'rosterSessionIds' in scope) {
    // Grants given in these sessions that no provider session holds yet (the redirect that would
    // have put them in one was still to come), or holds no more: nothing else would end them.
    const unheld = await tx<{ id: string }[]>`
      DELETE FROM oidc_payloads g WHERE g.model = 'Grant' AND g.roster_session_id = ANY(${scope.rosterSessionIds}::uuid[])
        AND NOT EXISTS (SELECT 1 FROM oidc_payloads s, jsonb_each(coalesce(s.payload->'authorizations', '{}')) a
                        WHERE s.model = 'Session' AND s.account_id = g.account_id AND a.value->>'grantId' = g.id)
      RETURNING g.id`;
    grantIds.push(...unheld.map((g) => g.id));
  }
  // Grants and every token and code issued under them: by account, or by the ended sessions' grants.
  if (scope === 'everyone') await tx`DELETE FROM oidc_payloads WHERE account_id IS NOT NULL`;
  else if ('accountId' in scope) await tx`DELETE FROM oidc_payloads WHERE account_id = ${scope.accountId}`;
  if (grantIds.length > 0) await tx`DELETE FROM oidc_payloads WHERE grant_id = ANY(${grantIds}) OR (model = 'Grant' AND id = ANY(${grantIds}))`;

  const logouts = sessions.flatMap((session) =>
    Object.entries(session.payload.authorizations ?? {}).map(([client_id, { sid }]) => ({ client_id, sid: sid ?? null, account_id: session.account_id })),
  );
  await queueLogouts(tx, logouts, reason);
}

/**
 * Ends what the provider holds for one application: for everyone (it was disabled, deleted, or who
 * may use it changed), for one person, or for one of their Roster sessions (an admin or the person
 * signs them out of it). Its grants and tokens go, its place in those provider sessions goes, and
 * each of those sessions gets a back-channel logout. Whoever is still allowed signs in again.
 */
export async function endClientAccess(
  tx: TransactionSql,
  clientId: string,
  reason: string,
  scope?: { accountId: string; rosterSessionId?: string },
): Promise<number> {
  const signedIn = await tx<{ account_id: string | null; sid: string | null; grant_id: string | null }[]>`
    WITH before AS (
      SELECT id, account_id, payload->'authorizations'->${clientId}::text->>'sid' AS sid, payload->'authorizations'->${clientId}::text->>'grantId' AS grant_id
      FROM oidc_payloads WHERE model = 'Session' AND payload->'authorizations' ? ${clientId}::text
        ${scope ? tx`AND account_id = ${scope.accountId}` : tx``}
        ${scope?.rosterSessionId ? tx`AND roster_session_id = ${scope.rosterSessionId}` : tx``}
      FOR UPDATE
    ), cleared AS (
      UPDATE oidc_payloads p SET payload = jsonb_set(p.payload, '{authorizations}', (p.payload->'authorizations') - ${clientId}::text)
      FROM before WHERE p.model = 'Session' AND p.id = before.id
    )
    SELECT account_id, sid, grant_id FROM before`;
  if (!scope) await tx`DELETE FROM oidc_payloads WHERE model <> 'Session' AND payload->>'clientId' = ${clientId}`;
  else if (!scope.rosterSessionId) {
    await tx`DELETE FROM oidc_payloads WHERE model <> 'Session' AND account_id = ${scope.accountId} AND payload->>'clientId' = ${clientId}`;
  } else {
    const grantIds = signedIn.map((s) => s.grant_id).filter((id): id is string => Boolean(id));
    if (grantIds.length > 0) await tx`DELETE FROM oidc_payloads WHERE grant_id = ANY(${grantIds}) OR (model = 'Grant' AND id = ANY(${grantIds}))`;
  }
  await queueLogouts(tx, signedIn.map((s) => ({ client_id: clientId, sid: s.sid, account_id: s.account_id })), reason);
  return signedIn.length;
}

/**
 * A logout the provider itself decides on (an application's own sign-out, or someone else signing in
 * in the same browser): through the same outbox, so it is retried and logged like Roster's.
 */
export async function queueProviderLogout(sql: Sql, logout: { client_id: string; sid: string | null; account_id: string }): Promise<void> {
  await transaction(sql, (tx) => queueLogouts(tx, [logout], 'signed_out_at_provider'));
}

/** Writes the back-channel logouts to the outbox, for applications that take them; the worker is woken on commit. */
async function queueLogouts(tx: TransactionSql, logouts: { client_id: string; sid: string | null; account_id: string | null }[], reason: string) {
  if (logouts.length === 0) return;
  const queued = await tx`
    INSERT INTO logout_deliveries (application_id, client_id, uri, account_id, sid, reason)
    SELECT a.id, a.client_id, a.backchannel_logout_uri, l.account_id, l.sid, ${reason}
    FROM jsonb_to_recordset(${tx.json(logouts as never)}) AS l(client_id text, sid text, account_id uuid)
    JOIN applications a ON a.client_id = l.client_id AND a.backchannel_logout_uri IS NOT NULL
    WHERE l.account_id IS NOT NULL
    RETURNING id`;
  if (queued.length > 0) beforeCommit(tx, async () => void (await tx`SELECT pg_notify(${LOGOUT_CHANNEL}, '')`));
}

/** Delivers queued back-channel logouts: on every notification, and every few seconds for retries. */
export class LogoutDelivery {
  private timer: NodeJS.Timeout | null = null;
  private listening: { unlisten(): Promise<void> } | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly issuer: string,
  ) {}

  async start(): Promise<void> {
    this.listening = await this.sql.listen(LOGOUT_CHANNEL, () => this.deliverDue(), () => this.deliverDue());
    this.timer = setInterval(() => this.deliverDue(), POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.listening?.unlisten().catch(() => undefined);
    await this.running;
  }

  /**
   * One delivery round at a time per node. Due rows are leased (their next attempt pushed back)
   * in a short transaction with SKIP LOCKED, so nodes share the work and no connection waits on an
   * application; they are then sent together.
   */
  deliverDue(): Promise<void> {
    this.running = this.running.then(() => this.round()).catch((error: unknown) => this.log.warn({ err: error }, 'back-channel logout round failed'));
    return this.running;
  }

  private async round() {
    while (!this.stopped) {
      const due = await this.sql<{ id: string; account_id: string; sid: string | null; client_id: string; uri: string; attempts: number }[]>`
        UPDATE logout_deliveries d SET next_attempt_at = now() + ${LEASE_MS} * interval '1 millisecond'
        WHERE d.id IN (
          SELECT id FROM logout_deliveries
          WHERE delivered_at IS NULL AND next_attempt_at <= now() AND created_at > now() - ${GIVE_UP_AFTER_MS} * interval '1 millisecond'
          ORDER BY next_attempt_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
        RETURNING d.id, d.account_id, d.sid, d.client_id, d.uri, d.attempts`;
      if (due.length === 0) return;
      await Promise.all(due.map((delivery) => this.deliver(delivery)));
    }
  }

  private async deliver(delivery: { id: string; account_id: string; sid: string | null; client_id: string; uri: string; attempts: number }) {
    const error = await this.send(delivery.uri, await this.logoutToken(delivery.client_id, delivery.account_id, delivery.sid));
    if (!error) {
      await this.sql`UPDATE logout_deliveries SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ${delivery.id}`;
      return;
    }
    // 1 s, 2 s, 4 s … an hour between attempts.
    const pauseMs = Math.min(1000 * 2 ** delivery.attempts, 60 * 60 * 1000);
    await this.sql`
      UPDATE logout_deliveries SET attempts = attempts + 1, last_error = ${error},
        next_attempt_at = now() + ${pauseMs} * interval '1 millisecond'
      WHERE id = ${delivery.id}`;
    this.log.warn({ delivery: delivery.id, error }, 'back-channel logout not delivered; will retry');
  }

  private async logoutToken(clientId: string, accountId: string, sid: string | null): Promise<string> {
    const [key] = await signingKeys(this.sql);
    return new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...(sid ? { sid } : {}) })
      .setProtectedHeader({ alg: key!.alg, kid: key!.kid, typ: 'logout+jwt' })
      .setIssuer(this.issuer)
      .setAudience(clientId)
      .setSubject(accountId)
      .setIssuedAt()
      .setExpirationTime('2m')
      .setJti(randomUUID())
      .sign(await importJWK(key!, key!.alg));
  }

  /** POSTs the token; returns what went wrong, or null when the application took it. */
  private async send(uri: string, token: string): Promise<string | null> {
    try {
      await refuseLinkLocal(uri);
      const response = await fetch(uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }),
        redirect: 'manual',
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      return response.ok ? null : `HTTP ${response.status}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
}

/**
 * Applications usually live on the same host or network as a self-hosted Roster, so loopback and
 * private addresses are allowed; link-local ones (cloud metadata endpoints) are not.
 */
async function refuseLinkLocal(uri: string): Promise<void> {
  const host = new URL(uri).hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  for (const address of addresses) {
    if (/^169\.254\./.test(address) || /^fe[89ab][0-9a-f]:/i.test(address)) throw new Error(`refused: ${host} is a link-local address`);
  }
}
