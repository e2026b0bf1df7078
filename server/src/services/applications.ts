import { randomBytes } from 'node:crypto';
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { can, type Application, type ApplicationList, type CreateApplicationRequest, type Role, type UpdateApplicationRequest, type UserRef } from '@roster/shared';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import { AppError, versionConflict } from '../errors.ts';
import type { ApplicationRow } from '../oidc/clients.ts';
import { endClientAccess } from '../oidc/logout.ts';
import { readWithSeq, recordEvent } from './events.ts';

// Registering applications that sign people in through Roster, and who may use them.

function toApplicationDto(row: ApplicationRow, users: UserRef[]): Application {
  return {
    id: row.id,
    client_id: row.client_id,
    name: row.name,
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    backchannel_logout_uri: row.backchannel_logout_uri,
    forward_auth_host: row.forward_auth_host,
    access: row.access,
    allowed_roles: row.allowed_roles as Role[],
    users,
    enabled: row.enabled,
    version: row.version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** 32 random bytes: the client secret, shown once. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function hostTaken(error: unknown): unknown {
  if (error instanceof postgres.PostgresError && error.code === '23505' && error.constraint_name === 'applications_forward_auth_host_key') {
    return new AppError('validation_failed', 'Some fields are invalid', { forward_auth_host: 'Another application uses this host' });
  }
  return error;
}

type ApplicationWithUsers = ApplicationRow & { users: UserRef[] };

/** Applications with the users named in their access rule, by username. */
function applicationsWithUsers(sql: Sql | TransactionSql) {
  return sql`
    SELECT a.*, coalesce((
      SELECT json_agg(json_build_object('id', u.id, 'username', u.username, 'display_name', u.display_name) ORDER BY u.username)
      FROM application_users au JOIN users u ON u.id = au.user_id WHERE au.application_id = a.id), '[]') AS users
    FROM applications a`;
}

async function readApplication(sql: Sql | TransactionSql, id: string): Promise<Application> {
  const [row] = await sql<ApplicationWithUsers[]>`${applicationsWithUsers(sql)} WHERE a.id = ${id}`;
  if (!row) throw new AppError('not_found', 'No such application');
  const { users, ...app } = row;
  return toApplicationDto(app, users);
}

export async function listApplications(sql: Sql): Promise<ApplicationList> {
  const { result: rows, seq } = await readWithSeq(sql, (tx) => tx<ApplicationWithUsers[]>`${applicationsWithUsers(tx)} ORDER BY lower(a.name) COLLATE "C", a.id`);
  return { items: rows.map(({ users, ...app }) => toApplicationDto(app, users)), seq };
}

async function setUsers(tx: TransactionSql, applicationId: string, userIds: string[]) {
  await tx`DELETE FROM application_users WHERE application_id = ${applicationId}`;
  if (userIds.length === 0) return;
  const inserted = await tx`
    INSERT INTO application_users (application_id, user_id)
    SELECT ${applicationId}, u.id FROM users u WHERE u.id = ANY(${[...new Set(userIds)]}::uuid[])`;
  if (inserted.count !== new Set(userIds).size) throw new AppError('validation_failed', 'Some fields are invalid', { user_ids: 'No such user' });
}

export async function createApplication(sql: Sql, actor: Actor, request: CreateApplicationRequest): Promise<{ application: Application; client_secret: string }> {
  const secret = newSecret();
  return transaction(sql, async (tx) => {
    // The people it names first (step 2 of the lock order, data/locks.ts): a deletion of one of them waits, or has happened.
    await lockForWrite(tx, actor, { read: request.user_ids });
    const { user_ids, ...fields } = request;
    const [row] = await tx<ApplicationRow[]>`
      INSERT INTO applications ${tx({ ...fields, client_id: `roster-${randomBytes(9).toString('base64url')}`, client_secret: secret })}
      RETURNING *`.catch((error: unknown) => {
      throw hostTaken(error);
    });
    await setUsers(tx, row!.id, user_ids);
    const application = await readApplication(tx, row!.id);
    recordEvent(tx, actor, { action: 'application.created', targetType: 'application', targetId: application.id, targetLabel: application.name, data: { application }, version: application.version });
    return { application, client_secret: secret };
  });
}

/**
 * Changes an application. Narrowing who may use it, or disabling it, ends every sign-in to it
 * (grants, tokens, and a back-channel logout for each session): people sign in again, and the
 * access rule is checked then.
 */
export async function updateApplication(sql: Sql, actor: Actor, id: string, request: UpdateApplicationRequest): Promise<Application> {
  return transaction(sql, async (tx) => {
    await lockForWrite(tx, actor, { read: request.user_ids ?? [] });
    const [current] = await tx<ApplicationRow[]>`SELECT * FROM applications WHERE id = ${id} FOR UPDATE`;
    if (!current) throw new AppError('not_found', 'No such application');
    const before = await readApplication(tx, id);
    if (before.version !== request.version) throw versionConflict(before);
    const { version: _, user_ids, ...fields } = request;
    if (Object.keys(fields).length > 0) {
      await tx`UPDATE applications SET ${tx(fields as Record<string, unknown>)}, version = version + 1, updated_at = now() WHERE id = ${id}`.catch((error: unknown) => {
        throw hostTaken(error);
      });
    } else await tx`UPDATE applications SET version = version + 1, updated_at = now() WHERE id = ${id}`;
    if (user_ids) await setUsers(tx, id, user_ids);
    const application = await readApplication(tx, id);
    const endsSignIns = lostAccess(before, application);
    if (endsSignIns) await endClientAccess(tx, current.client_id, 'application_changed');
    const changes = editableFields.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(application[k]));
    recordEvent(tx, actor, { action: 'application.updated', targetType: 'application', targetId: id, targetLabel: application.name, data: { application, changes, ended_sign_ins: endsSignIns }, version: application.version });
    return application;
  });
}

/**
 * When a user is deleted: they leave the access lists that name them, which the cascade would do
 * unseen. Each application gets a new version and its `application.updated`, so lists and open
 * edits follow. Their own sign-ins end with their sessions (the caller's `endApplicationSessions`);
 * nobody else's do. Runs in the caller's transaction, which holds the user's row.
 */
export async function leaveApplications(tx: TransactionSql, actor: Actor, userId: string): Promise<void> {
  const named = await tx<{ id: string }[]>`
    UPDATE applications a SET version = version + 1, updated_at = now()
    FROM application_users au
    WHERE au.application_id = a.id AND au.user_id = ${userId}
    RETURNING a.id`;
  await tx`DELETE FROM application_users WHERE user_id = ${userId}`;
  for (const { id } of named) {
    const application = await readApplication(tx, id);
    recordEvent(tx, actor, {
      action: 'application.updated',
      targetType: 'application',
      targetId: id,
      targetLabel: application.name,
      data: { application, changes: ['users'], ended_sign_ins: false },
      version: application.version,
    });
  }
}

/** The fields an edit may change, as the audit log names them. */
const editableFields = [
  'name', 'redirect_uris', 'post_logout_redirect_uris', 'backchannel_logout_uri', 'forward_auth_host', 'access', 'allowed_roles', 'users', 'enabled',
] as const satisfies readonly (keyof Application)[];

/**
 * Whether a change may have taken the application from someone: disabling it, or a rule that lets
 * in fewer (opening it to everyone, or adding roles or people, takes it from nobody). Those
 * sign-ins end; who is still allowed signs in again at once.
 */
function lostAccess(before: Application, after: Application): boolean {
  if (!after.enabled) return before.enabled;
  if (after.access === 'everyone') return false;
  const contains = (outer: string[], inner: string[]) => inner.every((item) => outer.includes(item));
  if (before.access !== after.access) return true;
  return after.access === 'roles'
    ? !contains(after.allowed_roles, before.allowed_roles)
    : !contains(after.users.map((u) => u.id), before.users.map((u) => u.id));
}

/** A new client secret, shown once; the old one stops working at once. */
export async function rotateApplicationSecret(sql: Sql, actor: Actor, id: string): Promise<{ application: Application; client_secret: string }> {
  const secret = newSecret();
  return transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    const [row] = await tx<ApplicationRow[]>`
      UPDATE applications SET client_secret = ${secret}, version = version + 1, updated_at = now() WHERE id = ${id} RETURNING *`;
    if (!row) throw new AppError('not_found', 'No such application');
    const application = await readApplication(tx, id);
    recordEvent(tx, actor, { action: 'application.secret_rotated', targetType: 'application', targetId: id, targetLabel: application.name, data: { application }, version: application.version });
    return { application, client_secret: secret };
  });
}

export async function deleteApplication(sql: Sql, actor: Actor, id: string): Promise<void> {
  await transaction(sql, async (tx) => {
    await lockForWrite(tx, actor);
    const [row] = await tx<ApplicationRow[]>`SELECT * FROM applications WHERE id = ${id} FOR UPDATE`;
    if (!row) throw new AppError('not_found', 'No such application');
    await endClientAccess(tx, row.client_id, 'application_deleted');
    await tx`DELETE FROM applications WHERE id = ${id}`;
    recordEvent(tx, actor, { action: 'application.deleted', targetType: 'application', targetId: id, targetLabel: row.name, data: { application_id: id } });
  });
}

/**
 * Signs someone out of one application: in one Roster session (their own, or anyone's for admins),
 * or in all of them. Their grants and tokens for it end and it gets a back-channel logout; the Roster
 * session goes on, and they may sign in to the application again.
 */
export async function signOutOfApplication(sql: Sql, actor: Actor, applicationId: string, target: { sessionId: string } | { userId: string }): Promise<void> {
  await transaction(sql, async (tx) => {
    let userId: string;
    if ('sessionId' in target) {
      const [session] = await tx<{ user_id: string }[]>`SELECT user_id FROM sessions WHERE id = ${target.sessionId}`;
      if (!session) throw new AppError('not_found', 'No such session');
      userId = session.user_id;
    } else userId = target.userId;
    const { role, users } = await lockForWrite(tx, actor, { read: [userId] });
    if (!users.has(userId)) throw new AppError('not_found', 'No such user');
    if (userId !== actor.id && !can(role!, 'sessions.all')) throw new AppError('not_found', 'No such session');
    // Held like an edit that ends sign-ins: a sign-in to it under way (its provider session's write,
    // oidc/adapter.ts) either lands before this, which then ends it, or after.
    const [app] = await tx<ApplicationRow[]>`SELECT * FROM applications WHERE id = ${applicationId} FOR UPDATE`;
    if (!app) throw new AppError('not_found', 'No such application');
    const sessionId = 'sessionId' in target ? target.sessionId : null;
    await endClientAccess(tx, app.client_id, 'signed_out_of_application', { accountId: userId, rosterSessionId: sessionId ?? undefined });
    recordEvent(tx, actor, {
      action: 'application.signed_out',
      targetType: 'application',
      targetId: app.id,
      targetLabel: app.name,
      data: { user_id: userId, username: users.get(userId)!.username, session_id: sessionId },
    });
  });
}

/** Whether a user may sign in to an application, by its access rule. */
export async function mayUseApplication(sql: Sql | TransactionSql, app: Pick<ApplicationRow, 'id' | 'access' | 'allowed_roles' | 'enabled'>, user: { id: string; role: Role }): Promise<boolean> {
  if (!app.enabled) return false;
  if (app.access === 'everyone') return true;
  if (app.access === 'roles') return app.allowed_roles.includes(user.role);
  const [member] = await sql`SELECT 1 FROM application_users WHERE application_id = ${app.id} AND user_id = ${user.id}`;
  return Boolean(member);
}

/** The applications a user has signed in to: their grants, newest first. */
export async function userApplications(sql: Sql, userId: string) {
  const rows = await sql<{ application_id: string; name: string; client_id: string; scope: string | null; iat: number }[]>`
    SELECT * FROM (
      SELECT DISTINCT ON (a.id) a.id AS application_id, a.name, a.client_id, g.payload->'openid'->>'scope' AS scope, (g.payload->>'iat')::bigint AS iat
      FROM oidc_payloads g JOIN applications a ON a.client_id = g.payload->>'clientId'
      WHERE g.model = 'Grant' AND g.account_id = ${userId} AND (g.expires_at IS NULL OR g.expires_at > now())
      ORDER BY a.id, iat DESC) latest
    ORDER BY iat DESC`;
  return {
    items: rows.map((r) => ({
      application_id: r.application_id,
      name: r.name,
      client_id: r.client_id,
      scopes: (r.scope ?? '').split(' ').filter(Boolean),
      granted_at: new Date(Number(r.iat) * 1000).toISOString(),
    })),
  };
}
