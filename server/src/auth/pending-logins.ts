import type { Sql, TransactionSql } from 'postgres';
import { generateSessionToken } from './sessions.ts';
import { sha256Hex } from './tokens.ts';

// A sign-in halfway: the password was right and the second factor is awaited. It is not a session:
// nothing that looks for a session (the API, the live channel, the OpenID provider, forward
// authentication) ever reads this table, so a browser holding one is signed out everywhere. Its
// token (random, stored hashed) travels in a cookie only the second step reads; it lives a few
// minutes and is deleted by the step that completes the sign-in, so it works at most once.

export const PENDING_LOGIN_COOKIE = 'roster_pending_login';
/** Time to fetch the phone and type the code. */
export const PENDING_LOGIN_MS = 5 * 60 * 1000;

export interface PendingLogin {
  token_hash: string;
  user_id: string;
  /** SHA-256 of the password hash the password was checked against. */
  password_check: string;
  expires_at: Date;
}

/** Starts the second step for `userId`; returns the token for the cookie. Expired ones are cleared on the way. */
export async function createPendingLogin(sql: Sql | TransactionSql, userId: string, passwordHash: string): Promise<{ token: string; expiresAt: Date }> {
  const token = generateSessionToken();
  await sql`DELETE FROM pending_logins WHERE expires_at <= now()`;
  const [row] = await sql<{ expires_at: Date }[]>`
    INSERT INTO pending_logins (token_hash, user_id, password_check, expires_at)
    VALUES (${sha256Hex(token)}, ${userId}, ${passwordCheck(passwordHash)}, now() + ${PENDING_LOGIN_MS} * interval '1 millisecond')
    RETURNING expires_at`;
  return { token, expiresAt: row!.expires_at };
}

/** The pending sign-in a token names, while it has not expired. */
export async function findPendingLogin(sql: Sql, token: string | undefined): Promise<PendingLogin | null> {
  if (!token || !/^[a-z2-7]{32}$/.test(token)) return null;
  const [row] = await sql<PendingLogin[]>`
    SELECT token_hash, user_id, password_check, expires_at FROM pending_logins
    WHERE token_hash = ${sha256Hex(token)} AND expires_at > now()`;
  return row ?? null;
}

/** Deletes the pending sign-in in the transaction that completes it: true only for the one caller that got it. */
export async function consumePendingLogin(tx: TransactionSql, tokenHash: string): Promise<boolean> {
  const deleted = await tx`DELETE FROM pending_logins WHERE token_hash = ${tokenHash} AND expires_at > now()`;
  return deleted.count === 1;
}

export function passwordCheck(passwordHash: string): string {
  return sha256Hex(`password:${passwordHash}`);
}
