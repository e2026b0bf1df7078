import type { Sql } from 'postgres';
import { can, type ApiKey } from '@roster/shared';
import { generateApiKey, type ApiKeyRow } from '../auth/api-keys.ts';
import type { Principal } from '../auth/principal.ts';
import { AppError } from '../http/errors.ts';
import { recordEvent, type Actor } from './events.ts';

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

export async function createApiKey(
  sql: Sql,
  actor: Actor,
  principal: Principal,
  request: { name: string; system: boolean; expires_at?: string },
): Promise<{ api_key: ApiKey; key: string }> {
  if (request.system && !can(principal.role, 'system.manage')) {
    throw new AppError('forbidden', 'Only admins can create system keys');
  }
  if (!request.system && !principal.user) {
    throw new AppError('validation_failed', 'Some fields are invalid', { system: 'A system key can create only system keys' });
  }
  const userId = request.system ? null : principal.user!.id;
  const { key, prefix, hash } = generateApiKey();
  return sql.begin(async (tx) => {
    const [row] = await tx<ApiKeyRow[]>`
      INSERT INTO api_keys (user_id, name, prefix, hash, created_by, expires_at)
      VALUES (${userId}, ${request.name}, ${prefix}, ${hash}, ${principal.user?.id ?? null}, ${request.expires_at ?? null})
      RETURNING *`;
    const apiKey = toApiKeyDto(row!);
    await recordEvent(tx, actor, {
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
export async function revokeApiKey(sql: Sql, actor: Actor, principal: Principal, id: string): Promise<void> {
  await sql.begin(async (tx) => {
    const [row] = await tx<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${id} FOR UPDATE`;
    const own = row && row.user_id !== null && row.user_id === principal.user?.id;
    if (!row || !(own || can(principal.role, 'system.manage'))) throw new AppError('not_found', 'No such API key');
    await tx`DELETE FROM api_keys WHERE id = ${id}`;
    await recordEvent(tx, actor, {
      action: 'api_key.revoked',
      targetType: 'api_key',
      targetId: id,
      targetLabel: row.name,
      data: { user_id: row.user_id },
    });
  });
}
