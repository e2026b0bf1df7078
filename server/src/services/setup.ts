import { randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import type { SetupRequest } from '@roster/shared';
import type { SessionPolicy } from '../auth/sessions.ts';
import { sha256Hex } from '../auth/tokens.ts';
import { hashPassword } from '../auth/passwords.ts';
import { transaction } from '../data/transaction.ts';
import { AppError } from '../errors.ts';
import { openSession, type BrowserCookies, type ClientInfo, type SignedIn } from './auth.ts';
import { insertUser } from './users/changes.ts';

// The first admin is created with a one-time token printed in the server's console: whoever can
// read that console owns the installation. Tokens are stored hashed and die with the first user.

export async function needsSetup(sql: Sql): Promise<boolean> {
  const [row] = await sql`SELECT NOT EXISTS (SELECT 1 FROM users) AS empty`;
  return row!.empty as boolean;
}

/** A fresh setup token while no user exists, otherwise null. Each start prints its own. */
export async function issueSetupToken(sql: Sql): Promise<string | null> {
  if (!(await needsSetup(sql))) return null;
  const token = randomBytes(24).toString('base64url');
  await sql`INSERT INTO setup_tokens (hash) VALUES (${sha256Hex(token)})`;
  return token;
}

export async function completeSetup(sql: Sql, request: SetupRequest, client: ClientInfo, cookies: BrowserCookies, policy: SessionPolicy): Promise<SignedIn> {
  const { token: _token, password, ...profile } = request;
  const passwordHash = await hashPassword(password);
  return transaction(sql, async (tx) => {
    // Serialise setups: two requests racing with valid tokens must not both create an admin.
    await tx`LOCK TABLE setup_tokens IN EXCLUSIVE MODE`;
    const [existing] = await tx`SELECT 1 FROM users LIMIT 1`;
    if (existing) throw new AppError('forbidden', 'Roster is already set up; sign in instead');
    const [valid] = await tx`SELECT 1 FROM setup_tokens WHERE hash = ${sha256Hex(request.token)}`;
    if (!valid) throw new AppError('forbidden', 'The setup token is wrong; use the link printed when Roster started');
    await tx`DELETE FROM setup_tokens`;
    const admin = await insertUser(tx, { id: null, label: 'setup', ip: client.ip }, { ...profile, role: 'admin', passwordHash });
    // Signed in at once, in the same transaction: they just proved they hold the console's token,
    // and a failure here must not leave the token used up with no session.
    return openSession(tx, admin, client, cookies, policy);
  });
}
