import { AsyncLocalStorage } from 'node:async_hooks';
import type { Sql } from 'postgres';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { clientMetadata } from './clients.ts';

// The OpenID provider's state in PostgreSQL, one row per object (oidc_payloads): it survives
// restarts and every node shares it. Applications (`Client`) are read from Roster's own
// `applications` table. Rows record whose they are (`account_id`) and, for the provider's sessions,
// the Roster session they were made in (`roster_session_id`), so that ending a user or a session
// in Roster can end what the provider holds for them in the same transaction.

/** The Roster session of the request the provider is serving, set by the route that mounts it. */
export const providerRequest = new AsyncLocalStorage<{ rosterSessionId: string | null; userId: string | null }>();

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
      const rosterSessionId = this.model === 'Session' ? (providerRequest.getStore()?.rosterSessionId ?? null) : null;
      await sql`
        INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, account_id, roster_session_id, expires_at)
        VALUES (${this.model}, ${id}, ${sql.json(payload as never)}, ${payload.grantId ?? null}, ${payload.userCode ?? null},
                ${payload.uid ?? null}, ${accountId}, ${rosterSessionId},
                ${expiresIn ? sql`now() + ${expiresIn} * interval '1 second'` : null})
        ON CONFLICT (model, id) DO UPDATE SET
          payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid,
          account_id = excluded.account_id, expires_at = excluded.expires_at,
          roster_session_id = coalesce(excluded.roster_session_id, oidc_payloads.roster_session_id)`;
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
