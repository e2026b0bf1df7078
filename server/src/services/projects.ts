import type { Sql, TransactionSql } from 'postgres';
import type { Project, ProjectList, Role } from '@roster/shared';
import { lockForWrite, type Actor } from '../data/locks.ts';
import { transaction } from '../data/transaction.ts';
import { AppError, versionConflict } from '../errors.ts';
import { readWithSeq, recordEvent } from './events.ts';

/** Who a row-secured query runs for. */
export interface Viewer {
  id: string | null;
  role: Role;
}

/**
 * Runs `fn` in a transaction as the non-owner role `roster_app`, with the viewer recorded for the
 * row-level security policies (db/migrations/003). Whatever SQL runs inside, a plain user can only
 * ever read the projects they own or belong to: the database filters, not the query.
 */
export function withRowSecurity<T>(sql: Sql, viewer: Viewer, fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
  return transaction(sql, async (tx) => {
    await enterRowSecurity(tx, viewer);
    return fn(tx);
  });
}

async function enterRowSecurity(tx: TransactionSql, viewer: Viewer) {
  await tx`SELECT set_config('roster.user_id', ${viewer.id ?? ''}, true), set_config('roster.role', ${viewer.role}, true)`;
  await tx`SET LOCAL ROLE roster_app`;
}

/**
 * A change under row-level security: first the actor and the users it names are locked and
 * re-checked (data/locks.ts; row locks need privileges the restricted role lacks), then the
 * viewer is the actor's role as it is now.
 */
function changeWithRowSecurity<T>(sql: Sql, actor: Actor, users: string[], fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
  return transaction(sql, async (tx) => {
    const { role } = await lockForWrite(tx, actor, { read: users });
    await enterRowSecurity(tx, { id: actor.id, role: role ?? 'admin' });
    return fn(tx);
  });
}

interface ProjectRow {
  id: string;
  name: string;
  owner_id: string;
  owner_username: string;
  owner_display_name: string;
  item_count: string;
  size_bytes: string;
  members: { id: string; username: string; display_name: string }[];
  version: number;
  created_at: Date;
  updated_at: Date;
}

function toProjectDto(row: ProjectRow): Project {
  return {
    id: row.id,
    name: row.name,
    owner: { id: row.owner_id, username: row.owner_username, display_name: row.owner_display_name },
    item_count: Number(row.item_count),
    size_bytes: Number(row.size_bytes),
    members: row.members,
    version: row.version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function selectProjects(tx: TransactionSql, where: ReturnType<TransactionSql['unsafe']>) {
  return tx<ProjectRow[]>`
    SELECT p.*, o.username AS owner_username, o.display_name AS owner_display_name,
           coalesce((SELECT json_agg(json_build_object('id', u.id, 'username', u.username, 'display_name', u.display_name)
                                     ORDER BY u.username)
                     FROM project_members m JOIN users u ON u.id = m.user_id
                     WHERE m.project_id = p.id), '[]') AS members
    FROM projects p JOIN users o ON o.id = p.owner_id
    WHERE true ${where}
    ORDER BY lower(p.name) COLLATE "C", p.id`;
}

/** The projects the viewer may see, with the newest live event the list reflects (`readWithSeq`). */
export async function listProjects(sql: Sql, viewer: Viewer, filter: { userId?: string }): Promise<ProjectList> {
  const { result: rows, seq } = await readWithSeq(sql, async (tx) => {
    await enterRowSecurity(tx, viewer);
    const where = filter.userId
      ? tx`AND (p.owner_id = ${filter.userId} OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = ${filter.userId}))`
      : tx``;
    return selectProjects(tx, where);
  });
  return { items: rows.map(toProjectDto), seq };
}

async function readProject(tx: TransactionSql, id: string): Promise<Project> {
  const [row] = await selectProjects(tx, tx`AND p.id = ${id}`);
  if (!row) throw new AppError('not_found', 'No such project');
  return toProjectDto(row);
}

export function getProject(sql: Sql, viewer: Viewer, id: string): Promise<Project> {
  return withRowSecurity(sql, viewer, (tx) => readProject(tx, id));
}

/** The owners' totals travel with project events, so user tables update their columns live. */
async function ownerTotals(tx: TransactionSql, ownerIds: string[]) {
  const rows = await tx<{ user_id: string; project_count: number; storage_bytes: string }[]>`
    SELECT u.id AS user_id, count(p.id)::int AS project_count, coalesce(sum(p.size_bytes), 0) AS storage_bytes
    FROM users u LEFT JOIN projects p ON p.owner_id = u.id
    WHERE u.id IN ${tx([...new Set(ownerIds)])}
    GROUP BY u.id`;
  return rows.map((r) => ({ user_id: r.user_id, project_count: r.project_count, storage_bytes: Number(r.storage_bytes) }));
}

async function assertUsersExist(tx: TransactionSql, ids: string[], field: string) {
  if (ids.length === 0) return;
  const found = await tx`SELECT id FROM users WHERE id IN ${tx([...new Set(ids)])}`;
  if (found.length !== new Set(ids).size) throw new AppError('validation_failed', 'Some fields are invalid', { [field]: 'No such user' });
}

async function projectEvent(
  tx: TransactionSql,
  actor: Actor,
  action: 'project.created' | 'project.updated' | 'project.deleted',
  project: Project,
  owners: string[],
  changes?: string[],
  /** Users it concerns besides the owners and members after it: a member just removed. */
  formerMembers: string[] = [],
) {
  recordEvent(tx, actor, {
    action,
    targetType: 'project',
    targetId: project.id,
    targetLabel: project.name,
    // `audience`: the plain users who may see this event (owners and members, before and after).
    data: { project, owners: await ownerTotals(tx, owners), audience: [...new Set([...owners, ...project.members.map((m) => m.id), ...formerMembers])], changes },
    version: project.version,
  });
}

export function createProject(
  sql: Sql,
  actor: Actor,
  request: { name: string; owner_id: string; item_count: number; size_bytes: number; member_ids: string[] },
): Promise<Project> {
  return changeWithRowSecurity(sql, actor, [request.owner_id, ...request.member_ids], async (tx) => {
    await assertUsersExist(tx, [request.owner_id], 'owner_id');
    await assertUsersExist(tx, request.member_ids, 'member_ids');
    const [row] = await tx<{ id: string }[]>`
      INSERT INTO projects (name, owner_id, item_count, size_bytes)
      VALUES (${request.name}, ${request.owner_id}, ${request.item_count}, ${request.size_bytes})
      RETURNING id`;
    for (const userId of new Set(request.member_ids)) {
      await tx`INSERT INTO project_members (project_id, user_id) VALUES (${row!.id}, ${userId})`;
    }
    const project = await readProject(tx, row!.id);
    await projectEvent(tx, actor, 'project.created', project, [project.owner.id]);
    return project;
  });
}

export function updateProject(
  sql: Sql,
  actor: Actor,
  id: string,
  request: { version?: number; name?: string; owner_id?: string; item_count?: number; size_bytes?: number },
): Promise<Project> {
  return changeWithRowSecurity(sql, actor, request.owner_id ? [request.owner_id] : [], async (tx) => {
    const [current] = await tx<{ owner_id: string; version: number }[]>`SELECT owner_id, version FROM projects WHERE id = ${id} FOR UPDATE`;
    if (!current) throw new AppError('not_found', 'No such project');
    if (request.version !== undefined && request.version !== current.version) throw versionConflict(await readProject(tx, id));
    const { version: _, ...changes } = request;
    if (changes.owner_id) await assertUsersExist(tx, [changes.owner_id], 'owner_id');
    await tx`UPDATE projects SET ${tx(changes as Record<string, unknown>)}, version = version + 1, updated_at = now() WHERE id = ${id}`;
    const project = await readProject(tx, id);
    await projectEvent(tx, actor, 'project.updated', project, [current.owner_id, project.owner.id], Object.keys(changes));
    return project;
  });
}

/**
 * Locks the project row for the rest of the transaction (step 3 of the lock order), so a deletion of
 * the project or of its owner either waits for this change or has already happened (not found).
 */
async function lockProject(tx: TransactionSql, id: string): Promise<void> {
  const [row] = await tx`SELECT 1 FROM projects WHERE id = ${id} FOR UPDATE`;
  if (!row) throw new AppError('not_found', 'No such project');
}

export function deleteProject(sql: Sql, actor: Actor, id: string): Promise<void> {
  return changeWithRowSecurity(sql, actor, [], async (tx) => {
    await lockProject(tx, id);
    const project = await readProject(tx, id);
    await tx`DELETE FROM projects WHERE id = ${id}`;
    await projectEvent(tx, actor, 'project.deleted', project, [project.owner.id]);
  });
}

export function setMembership(sql: Sql, actor: Actor, id: string, userId: string, member: boolean): Promise<Project> {
  return changeWithRowSecurity(sql, actor, [userId], async (tx) => {
    await lockProject(tx, id);
    await assertUsersExist(tx, [userId], 'user_id');
    if (member) await tx`INSERT INTO project_members (project_id, user_id) VALUES (${id}, ${userId}) ON CONFLICT DO NOTHING`;
    else await tx`DELETE FROM project_members WHERE project_id = ${id} AND user_id = ${userId}`;
    await tx`UPDATE projects SET version = version + 1, updated_at = now() WHERE id = ${id}`;
    const project = await readProject(tx, id);
    await projectEvent(tx, actor, 'project.updated', project, [project.owner.id], ['members'], member ? [] : [userId]);
    return project;
  });
}

/**
 * When a user is deleted: they leave the projects they were assigned to, which the cascade would do
 * unseen. Each project's `project.updated` tells staff and its owner and members, who see only
 * events about their own projects. Runs in the caller's transaction, before `disposeOwnedProjects`,
 * so a project of their own that is handed on no longer lists them either.
 */
export async function leaveProjects(tx: TransactionSql, actor: Actor, userId: string): Promise<void> {
  const left = await tx<{ id: string }[]>`
    UPDATE projects p SET version = version + 1, updated_at = now()
    FROM project_members m
    WHERE m.project_id = p.id AND m.user_id = ${userId} AND p.owner_id <> ${userId}
    RETURNING p.id`;
  await tx`DELETE FROM project_members WHERE user_id = ${userId}`;
  for (const { id } of left) {
    const project = await readProject(tx, id);
    await projectEvent(tx, actor, 'project.updated', project, [project.owner.id], ['members'], [userId]);
  }
}

/** When a user is deleted: their projects go with them, or to another user. Runs in the caller's transaction. */
export async function disposeOwnedProjects(
  tx: TransactionSql,
  actor: Actor,
  ownerId: string,
  choice: { projects: 'delete' | 'transfer'; transfer_to?: string },
): Promise<void> {
  const owned = await tx<{ id: string }[]>`SELECT id FROM projects WHERE owner_id = ${ownerId} FOR UPDATE`;
  if (owned.length === 0) return;
  if (choice.projects === 'transfer') {
    if (!choice.transfer_to || choice.transfer_to === ownerId) {
      throw new AppError('validation_failed', 'Some fields are invalid', { transfer_to: 'Choose who receives the projects' });
    }
    await assertUsersExist(tx, [choice.transfer_to], 'transfer_to');
    await tx`UPDATE projects SET owner_id = ${choice.transfer_to}, version = version + 1, updated_at = now() WHERE owner_id = ${ownerId}`;
  }
  for (const { id } of owned) {
    const project = await readProject(tx, id);
    if (choice.projects === 'delete') await tx`DELETE FROM projects WHERE id = ${id}`;
    const action = choice.projects === 'delete' ? 'project.deleted' : 'project.updated';
    await projectEvent(tx, actor, action, project, [ownerId, project.owner.id], choice.projects === 'transfer' ? ['owner_id'] : undefined);
  }
}
