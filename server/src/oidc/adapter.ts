import { AsyncLocalStorage } from 'node:async_hooks';
import type { Sql, TransactionSql } from 'postgres';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { clientMetadata } from './clients.ts';

// The OpenID provider's state in PostgreSQL, one row per object (oidc_payloads): it survives
// restarts and every node shares it. Applications (`Client`) are read from Roster's own
// `applications` table. Rows record whose they are (`account_id`) and, for the provider's sessions,
// the Roster session they were made in (`roster_session_id`), so that ending a user or a session
// in Roster can end what the provider holds for them in the same transaction.

/** The Roster session of the request the provider is serving, set by the route that mounts it. */
export const providerRequest = new AsyncLocalStorage<{ rosterSessionId: string | null; userId: string | null }>();

/** A Roster transaction the provider's writes join (the console's authorization decision, oidc/interactions.ts). */
export const providerTransaction = new AsyncLocalStorage<TransactionSql>();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface PayloadRow {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

export function postgresAdapter(sql: Sql) {
  return class PostgresAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const accountId = typeof payload.accountId === 'string' && UUID.test(payload.accountId) ? payload.accountId : null;
      // Sessions, grants and interactions remember the Roster session of the request that made them;
      // sessions and grants only their own person's (another person signed in to Roster in the same
      // browser does not take over the last person's sign-ins, which ending theirs must still end).
      const request = providerRequest.getStore();
      const linked = this.model === 'Interaction' || ((this.model === 'Session' || this.model === 'Grant') && (!accountId || accountId === request?.userId));
      const rosterSessionId = linked && request?.userId ? request.rosterSessionId : null;
      const write = (db: Sql | TransactionSql) => db`
        INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, account_id, roster_session_id, expires_at)
        VALUES (${this.model}, ${id}, ${db.json(payload as never)}, ${payload.grantId ?? null}, ${payload.userCode ?? null},
                ${payload.uid ?? null}, ${accountId}, ${rosterSessionId},
                ${expiresIn ? db`now() + ${expiresIn} * interval '1 second'` : null})
        ON CONFLICT (model, id) DO UPDATE SET
          payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid,
          account_id = excluded.account_id, expires_at = excluded.expires_at,
          roster_session_id = coalesce(excluded.roster_session_id, oidc_payloads.roster_session_id)`;
      if (this.model !== 'Session') {
        await write(providerTransaction.getStore() ?? sql);
        return;
      }
      // A provider session is written holding (KEY SHARE, in the order of data/locks.ts) what ends
      // it: its person, its Roster session, the applications signed in through it. Whatever ends
      // them locks them first, so it either waits for this write and then finds this session, or
      // commits first and this write sees it: a request that began before must not bring the
      // session back, nor add a sign-in (its code already made) that nothing would end.
      await sql.begin(async (tx) => {
        const ended = () => new errors.LoginRequired('Your Roster session has ended; sign in again');
        if (accountId) {
          const [user] = await tx<{ status: string }[]>`SELECT status FROM users WHERE id = ${accountId} FOR KEY SHARE`;
          if (user?.status !== 'active') throw ended();
        }
        if (rosterSessionId) {
          const [live] = await tx`SELECT 1 FROM sessions WHERE id = ${rosterSessionId} FOR KEY SHARE`;
          if (!live) throw ended();
        }
        const clients = Object.keys((payload.authorizations as Record<string, unknown> | undefined) ?? {});
        if (clients.length > 0) await tx`SELECT 1 FROM applications WHERE client_id = ANY(${clients}) ORDER BY id FOR KEY SHARE`;
        await write(tx);
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return clientMetadata(sql, id);
      const [row] = await sql<PayloadRow[]>`
        SELECT payload, consumed_at FROM oidc_payloads
        WHERE model = ${this.model} AND id = ${id} AND (expires_at IS NULL OR expires_at > now())`;
      return row && withConsumed(row);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const [row] = await sql<PayloadRow[]>`
        SELECT payload, consumed_at FROM oidc_payloads
        WHERE model = ${this.model} AND user_code = ${userCode} AND (expires_at IS NULL OR expires_at > now())`;
      return row && withConsumed(row);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const [row] = await sql<PayloadRow[]>`
        SELECT payload, consumed_at FROM oidc_payloads
        WHERE model = ${this.model} AND uid = ${uid} AND (expires_at IS NULL OR expires_at > now())`;
      return row && withConsumed(row);
    }

    async consume(id: string): Promise<void> {
      await sql`UPDATE oidc_payloads SET consumed_at = now() WHERE model = ${this.model} AND id = ${id}`;
    }

    async destroy(id: string): Promise<void> {
      await sql`DELETE FROM oidc_payloads WHERE model = ${this.model} AND id = ${id}`;
    }

    // Called once per token model: an interaction that carries the grant's id must outlive it.
    async revokeByGrantId(grantId: string): Promise<void> {
      await sql`DELETE FROM oidc_payloads WHERE model = ${this.model} AND grant_id = ${grantId}`;
    }
  };
}

function withConsumed(row: PayloadRow): AdapterPayload {
  return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
}
