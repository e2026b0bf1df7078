import type { Sql } from 'postgres';

// Failed sign-ins are counted in PostgreSQL, not in process memory, so the limits hold across nodes.

export interface ThrottleLimits {
  maxPerAccount: number;
  maxPerIp: number;
  windowMs: number;
}

export interface LoginSubject {
  ip: string | null;
  /** The user's id when the login names a user, otherwise the lower-cased login itself. */
  account: string;
}

/** Seconds until the next attempt is allowed, or 0 when it is allowed now. */
export async function loginRetryAfter(sql: Sql, subject: LoginSubject, limits: ThrottleLimits): Promise<number> {
  const checks: [string, string | null, number][] = [
    ['account', subject.account, limits.maxPerAccount],
    ['ip', subject.ip, limits.maxPerIp],
  ];
  let waitMs = 0;
  for (const [scope, key, max] of checks) {
    if (key === null) continue;
    // Blocked while `max` failures lie inside the window; free again when the max-th newest leaves it.
    const [row] = await sql<{ at: Date }[]>`
      SELECT at FROM login_failures
      WHERE scope = ${scope} AND key = ${key} AND at > now() - ${limits.windowMs / 1000} * interval '1 second'
      ORDER BY at DESC OFFSET ${max - 1} LIMIT 1`;
    if (row) waitMs = Math.max(waitMs, row.at.getTime() + limits.windowMs - Date.now());
  }
  return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
}

export async function recordLoginFailure(sql: Sql, subject: LoginSubject, limits: ThrottleLimits): Promise<void> {
  const keys = [{ scope: 'account', key: subject.account }, ...(subject.ip ? [{ scope: 'ip', key: subject.ip }] : [])];
  await sql.begin(async (tx) => {
    for (const { scope, key } of keys) {
      await tx`
        DELETE FROM login_failures
        WHERE scope = ${scope} AND key = ${key} AND at <= now() - ${limits.windowMs / 1000} * interval '1 second'`;
    }
    await tx`INSERT INTO login_failures ${tx(keys)}`;
  });
}

/** A successful sign-in forgives the account's failures (the IP's stay counted). */
export async function clearAccountFailures(sql: Sql, account: string): Promise<void> {
  await sql`DELETE FROM login_failures WHERE scope = 'account' AND key = ${account}`;
}
