import type { Sql, TransactionSql } from 'postgres';
import { can, type ApiKey } from '@roster/shared';
import { generateApiKey, type ApiKeyRow } from '../auth/api-keys.ts';
import type { Principal } from '../auth/principal.ts';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import { AppError } from '../errors.ts';
import { recordEvent } from './events.ts';

export function toApiKeyDto(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    user_id: row.user_id,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    expires_at: row.expires_at?.toISOString() ?? null,
  };
}

/** One's own keys; admins also see the system keys. */
export async function listApiKeys(sql: Sql, principal: Principal): Promise<ApiKey[]> {
  const system = can(principal.role, 'system.manage');
  const rows = await sql<ApiKeyRow[]>`
    SELECT * FROM api_keys
    WHERE user_id = ${principal.user?.id ?? null} ${system ? sql`OR user_id IS NULL` : sql``}
    ORDER BY created_at DESC`;
  return rows.map(toApiKeyDto);
}

/**
 * Creates a key for the actor (or, for admins, a system key). Needs a browser session that checked
 * the password within REAUTH_MINUTES: a stolen cookie alone cannot mint a credential that outlives it.
 */
export async function createApiKey(
  sql: Sql,
  actor: Actor,
  request: { name: string; system: boolean; expires_at?: string },
): Promise<{ api_key: ApiKey; key: string }> {
  const { key, prefix, hash } = generateApiKey();
  return transaction(sql, async (tx) => {
    const { role } = await lockForWrite(tx, actor, { recentAuth: true });
    if (request.system && !can(role!, 'system.manage')) throw new AppError('forbidden', 'Only admins can create system keys');
    const userId = request.system ? null : actor.id;
    const [row] = await tx<ApiKeyRow[]>`
      INSERT INTO api_keys (user_id, name, prefix, hash, created_by, expires_at)
      VALUES (${userId}, ${request.name}, ${prefix}, ${hash}, ${actor.id}, ${request.expires_at ?? null})
      RETURNING *`;
    const apiKey = toApiKeyDto(row!);
    recordEvent(tx, actor, {
      action: 'api_key.created',
      targetType: 'api_key',
      targetId: apiKey.id,
      targetLabel: apiKey.name,
      data: { user_id: userId, api_key: apiKey },
    });
    return { api_key: apiKey, key };
  });
}

/** Revokes a key at once: one's own, or (admins) any key. Others' keys are "not found". */
export async function revokeApiKey(sql: Sql, actor: Actor, id: string): Promise<void> {
  await transaction(sql, async (tx) => {
    const [found] = await tx<{ user_id: string | null }[]>`SELECT user_id FROM api_keys WHERE id = ${id}`;
    if (!found) throw new AppError('not_found', 'No such API key');
    const { role } = await lockForWrite(tx, actor, { read: found.user_id ? [found.user_id] : [] });
    const own = found.user_id !== null && found.user_id === actor.id;
    if (!own && !can(role!, 'system.manage')) throw new AppError('not_found', 'No such API key');
    const [row] = await tx<ApiKeyRow[]>`DELETE FROM api_keys WHERE id = ${id} RETURNING *`;
    if (!row) throw new AppError('not_found', 'No such API key');
    recordApiKeyRevoked(tx, actor, row);
  });
}

/** Ends every key of a user, in the caller's transaction (a password reset, "sign out everywhere"). */
export async function revokeUserApiKeys(tx: TransactionSql, actor: Actor, userId: string): Promise<void> {
  const rows = await tx<ApiKeyRow[]>`DELETE FROM api_keys WHERE user_id = ${userId} RETURNING *`;
  for (const row of rows) recordApiKeyRevoked(tx, actor, row);
}

function recordApiKeyRevoked(tx: TransactionSql, actor: Actor, row: ApiKeyRow) {
  recordEvent(tx, actor, {
    action: 'api_key.revoked',
    targetType: 'api_key',
    targetId: row.id,
    targetLabel: row.name,
    data: { user_id: row.user_id },
  });
}
