import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Sql, TransactionSql } from 'postgres';
import { randomUUID } from 'node:crypto';

// Signing keys for ID tokens and back-channel logout tokens, one row each (oidc_keys): generated at
// the first start, shared by every node, rotated from the command line. The newest active key
// signs; retired keys stay published for a day, so tokens they signed still verify. A rotation is
// announced on KEYS_CHANNEL: every node rebuilds its provider with the new keys at once.

export const KEYS_CHANNEL = 'roster_oidc_keys';

const ALGORITHM = 'ES256';
const RETIRED_KEYS_PUBLISHED_FOR = '1 day';

export type SigningKey = JWK & { kid: string; alg: string; use: string };

/** The keys to publish, the signing one first; creates the first key when there is none. */
export async function signingKeys(sql: Sql): Promise<SigningKey[]> {
  const keys = await publishedKeys(sql);
  if (keys.length > 0) return keys;
  // Two nodes starting at once: the lock lets one create the key, the other then finds it.
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(7264005)`;
    const [existing] = await tx`SELECT 1 FROM oidc_keys WHERE retired_at IS NULL`;
    if (!existing) await insertKey(tx);
  });
  return publishedKeys(sql);
}

/** A new signing key; the previous one is retired (still published for a day). */
export async function rotateSigningKey(sql: Sql): Promise<string> {
  return sql.begin(async (tx) => {
    await tx`UPDATE oidc_keys SET retired_at = now() WHERE retired_at IS NULL`;
    const kid = await insertKey(tx);
    await tx`SELECT pg_notify(${KEYS_CHANNEL}, ${kid})`;
    return kid;
  }) as Promise<string>;
}

async function insertKey(sql: TransactionSql): Promise<string> {
  const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(privateKey)), kid, alg: ALGORITHM, use: 'sig' };
  await sql`INSERT INTO oidc_keys (kid, jwk) VALUES (${kid}, ${sql.json(jwk as never)})`;
  return kid;
}

async function publishedKeys(sql: Sql): Promise<SigningKey[]> {
  const rows = await sql<{ jwk: SigningKey }[]>`
    SELECT jwk FROM oidc_keys
    WHERE retired_at IS NULL OR retired_at > now() - ${RETIRED_KEYS_PUBLISHED_FOR}::interval
    ORDER BY retired_at IS NULL DESC, created_at DESC`;
  return rows.map((r) => r.jwk);
}
