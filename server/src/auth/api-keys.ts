import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import type { Sql } from 'postgres';
import { API_KEY_PREFIX } from '@roster/shared';
import { toUserDto } from '../data/users.ts';
import { userFromJson, type SessionUser } from './sessions.ts';
import { sha256Hex } from './tokens.ts';

// API keys for programs: `rst_` + 24 random bytes in base32. Only the SHA-256 is stored; the first
// characters are kept in clear so people can tell their keys apart.

const LAST_USED_RESOLUTION_MS = 60 * 1000;

export interface ApiKeyRow {
  id: string;
  user_id: string | null;
  name: string;
  prefix: string;
  hash: string;
  created_by: string | null;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
}

export interface ValidatedApiKey {
  key: ApiKeyRow;
  /** The owner, or null for a system key. */
  user: SessionUser | null;
  /** When the owner's grace period for setting up two-factor sign-in ends, if it has started. */
  twoFactorDueAt: Date | null;
}

export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  const key = API_KEY_PREFIX + encodeBase32LowerCaseNoPadding(bytes);
  return { key, prefix: key.slice(0, API_KEY_PREFIX.length + 6), hash: sha256Hex(key) };
}

/** The key's row and owner, or null when it is unknown, expired, or its owner is inactive. */
export async function validateApiKey(sql: Sql, key: string): Promise<ValidatedApiKey | null> {
  if (!key.startsWith(API_KEY_PREFIX) || key.length > 100) return null;
  const [row] = await sql<(ApiKeyRow & { owner: Parameters<typeof userFromJson>[0] | null })[]>`
    SELECT k.*, to_jsonb(u) - 'password_hash' AS owner
    FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
    WHERE k.hash = ${sha256Hex(key)}`;
  if (!row) return null;
  const { owner, ...keyRow } = row;
  if (keyRow.expires_at && keyRow.expires_at.getTime() <= Date.now()) return null;
  if (owner && owner.status !== 'active') return null;
  if (!keyRow.last_used_at || Date.now() - keyRow.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS) {
    await sql`UPDATE api_keys SET last_used_at = now() WHERE id = ${keyRow.id}`;
    keyRow.last_used_at = new Date();
  }
  const user = owner ? userFromJson(owner) : null;
  return { key: keyRow, user: user ? toUserDto(user) : null, twoFactorDueAt: user?.two_factor_due_at ?? null };
}
