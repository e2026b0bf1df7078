import type { Sql, TransactionSql } from 'postgres';
import type { LoginRequest, User } from '@roster/shared';
import { rememberDevice, trustedDevice } from '../auth/devices.ts';
import { createPendingLogin } from '../auth/pending-logins.ts';
import { hashPassword, verifyAgainstDummy, verifyPassword } from '../auth/passwords.ts';
import { createSession, generateSessionToken, PASSWORD_ONLY, sessionIdOfToken, type SessionPolicy, type SessionRow } from '../auth/sessions.ts';
import { attemptSucceeded, countAttempt, type Attempt, type ThrottleKey } from '../auth/throttle.ts';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import { findUserByLogin, loginKey, toUserDto, type UserRow } from '../data/users.ts';
import { AppError } from '../errors.ts';
import type { MailDeps } from '../mail/links.ts';
import { failedSignInsMail } from '../mail/templates.ts';
import { recordEvent } from './events.ts';
import { revokeSessions } from './sessions.ts';
import { insertUser } from './users/changes.ts';

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

/** What sign-in may cost an attacker (LOGIN_*, REGISTRATION_MAX_PER_IP). */
export interface SignInLimits {
  /** Failed sign-ins per login name (and per trusted device) within the window. */
  perLogin: number;
  perIp: number;
  registrationsPerIp: number;
  windowMs: number;
}

/** The cookies a browser brings to a sign-in: its current session (replaced) and its device token. */
export interface BrowserCookies {
  session?: string;
  device?: string;
}

export interface SignedIn {
  token: string;
  session: SessionRow;
  user: User;
  /** The device cookie to set: this browser may sign in to this account despite an attack on it. */
  deviceToken: string;
  /** A browser this account never signed in from (or one forgotten since), and not its first sign-in ever. */
  newDevice: boolean;
}

export function rateLimited(retryAfterSeconds: number, what = 'Too many failed attempts'): AppError {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  const when = retryAfterSeconds < 60 ? `${retryAfterSeconds} seconds` : `${minutes} minute${minutes === 1 ? '' : 's'}`;
  return new AppError('rate_limited', `${what}; try again in ${when}`, undefined, { 'Retry-After': String(retryAfterSeconds) });
}

/** Counts the attempt or refuses it with `429` and `Retry-After`. */
export async function throttle(sql: Sql, keys: ThrottleKey[], windowMs: number, what?: string): Promise<Attempt> {
  const attempt = await countAttempt(sql, keys, windowMs);
  if (!attempt.counted) throw rateLimited(attempt.retryAfterSeconds, what);
  return attempt;
}

/** A sign-in's first step: signed in, or (two-factor sign-in on) a pending sign-in awaiting the second factor. */
export type LoginOutcome = { signedIn: SignedIn } | { pending: { token: string; expiresAt: Date } };

/**
 * Signs in. The attempt is counted before the password is checked: per trusted device when the
 * browser signed in to this account before, else per login name (as typed, so the limit cannot
 * tell which username and which email belong together) and per IP. An unknown login and a wrong
 * password take the same time and give the same `invalid_credentials`. With two-factor sign-in on,
 * a right password opens no session: only a pending sign-in (auth/pending-logins.ts), which the
 * second step (services/two-factor/sign-in.ts) turns into one.
 */
export async function login(
  sql: Sql,
  request: LoginRequest,
  client: ClientInfo,
  cookies: BrowserCookies,
  limits: SignInLimits,
  policy: SessionPolicy,
  mail?: MailDeps,
): Promise<LoginOutcome> {
  const row = await findUserByLogin(sql, request.login);
  const typed = await loginKey(sql, request.login);
  const device = row ? await trustedDevice(sql, cookies.device, row.id) : null;
  const keys: ThrottleKey[] = device
    ? [{ scope: 'device', key: device, max: limits.perLogin }]
    : [
        { scope: 'login', key: typed, max: limits.perLogin },
        ...(client.ip ? [{ scope: 'ip' as const, key: client.ip, max: limits.perIp }] : []),
      ];
  const attempt = await throttle(sql, keys, limits.windowMs);
  const valid = row ? await verifyPassword(row.password_hash, request.password) : await verifyAgainstDummy(request.password);
  if (!row || !valid) {
    await transaction(sql, async (tx) => {
      recordEvent(tx, { id: null, label: request.login, ip: client.ip }, {
        action: 'auth.login_failed',
        targetType: 'user',
        targetId: row?.id ?? null,
        targetLabel: row?.username ?? request.login,
        data: {},
      });
    });
    if (row && !device && mail) await tellOfFailuresAtLimit(sql, row, attempt, typed, limits, mail);
    throw new AppError('invalid_credentials', 'The login or password is wrong');
  }
  await attemptSucceeded(sql, attempt, device ? [{ scope: 'device', key: device }] : [{ scope: 'login', key: typed }]);
  if (row.two_factor_enabled_at) {
    // Under the user's lock, as a session is opened: the pending sign-in of a password checked just
    // before a deactivation would otherwise outlive it and complete once the account is reactivated.
    const pending = await transaction(sql, async (tx) => {
      const locked = await lockSigningInUser(tx, { id: row.id, label: row.username, ip: client.ip }, row.id, row.password_hash);
      return createPendingLogin(tx, locked.id, locked.password_hash);
    });
    return { pending };
  }
  return { signedIn: await startSession(sql, row, client, cookies, policy, { verifiedHash: row.password_hash }) };
}

/**
 * The failure that fills the login name's limit tells the account's owner, so once per window
 * however many guesses follow (refused ones are not counted). Hits of one key are inserted under
 * its lock, so their ids give each failure its place.
 */
async function tellOfFailuresAtLimit(sql: Sql, row: UserRow, attempt: Attempt, typed: string, limits: SignInLimits, mail: MailDeps): Promise<void> {
  if (!attempt.counted) return;
  const [hit] = await sql<{ place: number }[]>`
    SELECT count(*)::int AS place FROM rate_limit_hits
    WHERE scope = 'login' AND key = ${typed} AND at > now() - ${limits.windowMs} * interval '1 millisecond'
      AND id <= (SELECT max(id) FROM rate_limit_hits WHERE id = ANY(${attempt.hitIds}::bigint[]) AND scope = 'login')`;
  if (hit?.place !== limits.perLogin) return;
  mail.mailer.deliver(
    failedSignInsMail({ to: row.email, displayName: row.display_name, username: row.username, origin: mail.origin, attempts: limits.perLogin, minutes: Math.round(limits.windowMs / 60_000) }),
  );
}

/**
 * Opens a session for a user who has just proven who they are (sign-in, setup, registration). The
 * user is locked and re-read in the same transaction: a deactivation or password change that
 * committed after the password was checked wins, and one that comes later waits and then ends
 * this session too. The browser's previous session ends (ASVS 7.2.4), and beyond
 * SESSION_MAX_PER_USER the user's least recently used sessions end.
 */
export async function startSession(
  sql: Sql,
  user: Pick<UserRow, 'id' | 'username'>,
  client: ClientInfo,
  cookies: BrowserCookies,
  policy: SessionPolicy,
  proof: SignInProof = {},
): Promise<SignedIn> {
  return transaction(sql, (tx) => openSession(tx, user, client, cookies, policy, proof));
}

/** What a sign-in proved, checked again once the user is locked. */
export interface SignInProof {
  /** The password hash the password was checked against: a password changed since voids the sign-in. */
  verifiedHash?: string;
  /** How (RFC 8176 `amr`); the password alone by default. */
  amr?: string[];
  /** Checks and uses up a second factor after the user is locked (step 3 of the lock order): throws to refuse. */
  secondFactor?: (tx: TransactionSql, user: UserRow, actor: Actor) => Promise<void>;
}

/** `startSession` inside the caller's transaction. */
export async function openSession(
  tx: TransactionSql,
  user: Pick<UserRow, 'id' | 'username'>,
  client: ClientInfo,
  cookies: BrowserCookies,
  policy: SessionPolicy,
  proof: SignInProof = {},
): Promise<SignedIn> {
  const token = generateSessionToken();
  const actor: Actor = { id: user.id, label: user.username, ip: client.ip };
  const row = await lockSigningInUser(tx, actor, user.id, proof.verifiedHash);
  await proof.secondFactor?.(tx, row, actor);
  await endReplacedSession(tx, actor, cookies.session);
  const amr = proof.amr ?? PASSWORD_ONLY;
  const session = await createSession(tx, token, user.id, client, policy, amr);
  // The new session is kept whatever its timestamps say: they are this transaction's start, which
  // may be older than sessions that other sign-ins committed while this one waited for the lock.
  await revokeSessions(tx, actor, { userId: user.id, exceptSessionId: session.id, beyondNewest: policy.maxPerUser - 1 }, 'replaced');
  const device = await rememberDevice(tx, user.id, cookies.device);
  const [updated] = await tx<UserRow[]>`UPDATE users SET last_login_at = now() WHERE id = ${user.id} RETURNING *`;
  recordEvent(tx, actor, {
    action: 'session.created',
    targetType: 'session',
    targetId: session.id,
    targetLabel: user.username,
    data: {
      user_id: user.id,
      display_name: updated!.display_name,
      email: updated!.email,
      username: updated!.username,
      role: updated!.role,
      status: updated!.status,
      ip: client.ip,
      user_agent: client.userAgent,
      last_login_at: updated!.last_login_at?.toISOString() ?? null,
      expires_at: session.expires_at.toISOString(),
      amr,
    },
  });
  return { token, session, user: toUserDto(updated!), deviceToken: device.token, newDevice: device.isNew && row.last_login_at !== null };
}

/**
 * Locks the user signing in and reads them again: a deactivation or password change that committed
 * after the password was checked (against `verifiedHash`) wins, and one that comes later waits for
 * this transaction, then ends what it made.
 */
async function lockSigningInUser(tx: TransactionSql, actor: Actor, userId: string, verifiedHash: string | undefined): Promise<UserRow> {
  const { users } = await lockForWrite(tx, actor, { change: [userId] });
  const row = users.get(userId);
  if (!row || (verifiedHash !== undefined && row.password_hash !== verifiedHash)) {
    throw new AppError('invalid_credentials', 'The login or password is wrong');
  }
  if (row.status !== 'active') throw new AppError('forbidden', 'Your account is deactivated. Ask an administrator to reactivate it.');
  return row;
}

async function endReplacedSession(tx: TransactionSql, actor: Actor, token: string | undefined) {
  const sessionId = token ? await sessionIdOfToken(tx, token) : null;
  if (sessionId) await revokeSessions(tx, actor, { sessionId }, 'replaced');
}

/**
 * Open registration (ALLOW_REGISTRATION): closed until the first admin exists, so a stranger
 * cannot take an installation before its owner; throttled per IP (every attempt counts), because
 * its `username_taken` / `email_taken` answers tell which accounts exist.
 */
export async function register(
  sql: Sql,
  request: { username: string; display_name: string; email: string; password: string },
  client: ClientInfo,
  cookies: BrowserCookies,
  limits: SignInLimits,
  policy: SessionPolicy,
): Promise<SignedIn> {
  const [admin] = await sql`SELECT 1 FROM users WHERE role = 'admin' AND status = 'active' LIMIT 1`;
  if (!admin) throw new AppError('registration_closed', 'Registration opens once Roster is set up; ask its administrator');
  if (client.ip) await throttle(sql, [{ scope: 'register', key: client.ip, max: limits.registrationsPerIp }], limits.windowMs, 'Too many registrations');
  const { password, ...profile } = request;
  const passwordHash = await hashPassword(password);
  // The account and its first session in one transaction: no account left behind that its
  // registration answered with an error (a retry would find the username taken).
  return transaction(sql, async (tx) =>
    openSession(tx, await insertUser(tx, { id: null, label: 'registration', ip: client.ip }, { ...profile, role: 'user', passwordHash }), client, cookies, policy),
  );
}
