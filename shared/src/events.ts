import { z } from 'zod';
import { applicationSchema } from './applications.ts';
import { invitationSchema } from './invitations.ts';
import { mailTemplateSchema } from './recovery.ts';
import { pageSeqSchema } from './schemas/common.ts';
import { importCountsSchema, importModes } from './imports.ts';
import { apiKeySchema, meterSchema, meterUsageSchema, projectSchema, roleSchema, userSchema, userStatusSchema, type UserStats } from './schemas.ts';

/** Why a session ended; the console tells its user (`session.ended`). */
export const sessionEndReasons = [
  'logout',
  'revoked',
  'password_reset',
  'password_changed',
  'deactivated',
  'deleted',
  // Past its absolute lifetime, or idle for too long.
  'expired',
  // A newer sign-in in the same browser, or beyond SESSION_MAX_PER_USER.
  'replaced',
  // An administrator reset the user's second factor.
  'two_factor_reset',
] as const;
export const sessionEndReasonSchema = z.enum(sessionEndReasons);
export type SessionEndReason = z.infer<typeof sessionEndReasonSchema>;

// ---- Events: the audit log and the live feed carry the same ones ------------------------------------

const timestamp = z.iso.datetime({ offset: true });

/** What every event has; `action`, `target_type` and `data` come with each action below. */
const eventBaseSchema = z.object({
  /** The audit log's id: events are numbered in commit order. */
  seq: z.number().int(),
  at: timestamp,
  /** Who acted: empty for the command line and, in a plain user's view, for anyone but themselves. */
  actor: z.object({ id: z.string().nullable(), label: z.string().nullable() }),
  target_id: z.string().nullable(),
  target_label: z.string().nullable(),
  /** The entity's version after the change: apply an event only if it is newer than what you hold. */
  version: z.number().int().nullable(),
  /** The actor's address; null in a plain user's view. */
  ip: z.string().nullable(),
});

function eventOf<A extends string, T extends string, D extends z.ZodObject>(action: A, targetType: T, data: D) {
  return eventBaseSchema.extend({ action: z.literal(action), target_type: z.literal(targetType), data });
}

const userData = z.object({ user: userSchema });
/** A changed field's value before or after: every field of a user is one of these. */
const fieldValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const projectData = z.object({
  project: projectSchema,
  /** Each affected owner's project count and storage after the change, so user tables update live. */
  owners: z.array(z.object({ user_id: z.uuid(), project_count: z.number().int(), storage_bytes: z.number().int() })),
  /** The plain users who may see the event: owners and members, before and after. Never sent to them. */
  audience: z.array(z.uuid()),
  /** The fields a `project.updated` changed (`members` for an assignment). */
  changes: z.array(z.string()).optional(),
});

/** One event: a union on `action`, each with its own `data`. */
export const auditEventSchema = z.discriminatedUnion('action', [
  eventOf('user.created', 'user', userData),
  eventOf('user.updated', 'user', userData.extend({ changes: z.record(z.string(), z.object({ from: fieldValue, to: fieldValue })) })),
  /** `data.user` is the last state. */
  eventOf('user.deleted', 'user', userData),
  /** One chunk of a CSV import (each user created or updated has its own event too). */
  eventOf('users.imported', 'user', z.object({ mode: z.enum(importModes), rows: z.number().int(), counts: importCountsSchema })),
  eventOf(
    'user.password_reset',
    'user',
    userData.extend({
      revoke_sessions: z.boolean(),
      revoke_credentials: z.boolean(),
      /** The user changed their own. */
      by_self: z.boolean(),
      /** With a reset link sent by mail ("Forgot your password?", or an admin's "send a reset link"). */
      via_link: z.boolean().optional(),
    }),
  ),
  /** An admin invited someone by mail; the account is created when they accept (`invitation.accepted`). */
  eventOf('invitation.created', 'invitation', z.object({ invitation: invitationSchema })),
  /** A new link was sent (valid 7 days again); the previous one stopped working. */
  eventOf('invitation.resent', 'invitation', z.object({ invitation: invitationSchema })),
  /** The invitation was withdrawn before it was accepted; its link no longer works. */
  eventOf('invitation.revoked', 'invitation', z.object({ invitation: invitationSchema })),
  /** The invited person chose a password: their account exists (`user.created`) and they are signed in. */
  eventOf('invitation.accepted', 'invitation', z.object({ invitation: invitationSchema, user_id: z.uuid() })),
  /**
   * A password reset link was mailed to the user: asked for on the sign-in page (`by_admin` false;
   * the actor is the address typed) or sent by an admin.
   */
  eventOf('password_reset.requested', 'user', z.object({ user_id: z.uuid(), by_admin: z.boolean(), expires_at: timestamp })),
  /**
   * The mail server refused a mail or could not be reached (the mail is not retried: resend the
   * invitation, or send a new reset link). Staff only: it names no user as `user_id`.
   */
  eventOf('mail.failed', 'mail', z.object({ template: mailTemplateSchema, to: z.string(), subject: z.string(), error: z.string() })),
  eventOf(
    'session.created',
    'session',
    z.object({
      user_id: z.uuid(),
      display_name: z.string(),
      /** So a list searched by email can tell whether the new session matches (absent in older entries). */
      email: z.string().optional(),
      /**
       * So a users table sorted by last sign-in can tell whether the user belongs in it before
       * reading their row (absent in older entries).
       */
      username: z.string().optional(),
      role: roleSchema.optional(),
      status: userStatusSchema.optional(),
      ip: z.string().nullable(),
      user_agent: z.string().nullable(),
      last_login_at: timestamp.nullable(),
      expires_at: timestamp,
      /** How the sign-in was proven: `["pwd"]`, or `["pwd", "otp"]` with a second factor (absent in older entries). */
      amr: z.array(z.string()).optional(),
    }),
  ),
  eventOf('session.revoked', 'session', z.object({ user_id: z.uuid(), reason: sessionEndReasonSchema })),
  /** Everyone was signed out, but perhaps the session that did it. */
  eventOf('session.revoked_all', 'session', z.object({ count: z.number().int(), kept_session_id: z.string().nullable() })),
  /** The session's token was replaced (a password confirmation or change): connections opened with the old one close. */
  eventOf('session.rotated', 'session', z.object({ user_id: z.uuid(), reason: z.enum(['reauthenticated', 'password_changed']) })),
  /** `user_id` is null for a system key. */
  eventOf('api_key.created', 'api_key', z.object({ user_id: z.uuid().nullable(), api_key: apiKeySchema })),
  eventOf('api_key.revoked', 'api_key', z.object({ user_id: z.uuid().nullable() })),
  /** The actor is the login that was typed; the target the user it names, if any. */
  eventOf('auth.login_failed', 'user', z.object({})),
  /** The password was right, the code (or recovery code) that followed was not. */
  eventOf('auth.second_factor_failed', 'user', z.object({ user_id: z.uuid(), method: z.enum(['totp', 'recovery_code']) })),
  /** A sign-in used up a recovery code; `remaining` are left. */
  eventOf('auth.recovery_code_used', 'user', z.object({ user_id: z.uuid(), remaining: z.number().int() })),
  /** Two-factor sign-in confirmed with a first code; `replaced`: a new authenticator took the place of the old one. */
  eventOf('user.two_factor_enabled', 'user', userData.extend({ replaced: z.boolean() })),
  /** The user turned two-factor sign-in off. */
  eventOf('user.two_factor_disabled', 'user', userData),
  /** An administrator removed the user's second factor; their sessions ended. */
  eventOf('user.two_factor_reset', 'user', userData.extend({ sessions_ended: z.number().int() })),
  /** New recovery codes, the set numbered `recovery_codes_set` (absent before it was recorded); the old ones stopped working. */
  eventOf('user.recovery_codes_regenerated', 'user', z.object({ user_id: z.uuid(), recovery_codes_set: z.number().int().optional() })),
  eventOf('project.created', 'project', projectData),
  eventOf('project.updated', 'project', projectData),
  eventOf('project.deleted', 'project', projectData),
  eventOf('application.created', 'application', z.object({ application: applicationSchema })),
  eventOf(
    'application.updated',
    'application',
    /** `ended_sign_ins`: the change let fewer people in, so every sign-in to it ended. */
    z.object({ application: applicationSchema, changes: z.array(z.string()), ended_sign_ins: z.boolean() }),
  ),
  eventOf('application.deleted', 'application', z.object({ application_id: z.uuid() })),
  eventOf('application.secret_rotated', 'application', z.object({ application: applicationSchema })),
  /** Someone signed in to the application through a Roster session. */
  eventOf('application.signed_in', 'application', z.object({ user_id: z.uuid(), session_id: z.uuid(), scopes: z.array(z.string()) })),
  /** Someone was signed out of the application: in one session, or (`session_id` null) in all. */
  eventOf('application.signed_out', 'application', z.object({ user_id: z.uuid(), username: z.string(), session_id: z.uuid().nullable() })),
  eventOf(
    'usage.recorded',
    'user',
    z.object({ user_id: z.uuid(), meter: meterSchema, amount: z.number(), source: z.string().nullable(), /** The meter's state after the report. */ usage: meterUsageSchema }),
  ),
]);
export type AuditEvent = z.infer<typeof auditEventSchema>;
export type EventAction = AuditEvent['action'];
export type EventOf<A extends EventAction> = Extract<AuditEvent, { action: A }>;
export type EventData<A extends EventAction> = EventOf<A>['data'];

/** Every action the live feed and the audit log carry. */
export const eventActions: EventAction[] = auditEventSchema.options.map((option) => option.shape.action.value);

/**
 * An event as the live channel sends it. Staff get events whole; a plain user gets those about them
 * shaped to what the API would tell them (server/src/live/audience.ts): no `ip`, no acting admin,
 * only their own `owners` totals, and no `audience`, which this type therefore leaves out.
 */
export type LiveEvent = WithoutAudience<AuditEvent>;
type WithoutAudience<E extends AuditEvent> = E extends AuditEvent ? Omit<E, 'data'> & { data: Omit<E['data'], 'audience'> } : never;

/** The user whose session, API key or usage an event is about (`data.user_id`); null when it names none. */
export function eventUserId(event: LiveEvent): string | null {
  return 'user_id' in event.data ? event.data.user_id : null;
}

/** The user record a `user.*` event carries: the state after the change (the last one for `user.deleted`). */
export function eventUser(event: LiveEvent) {
  return 'user' in event.data ? event.data.user : null;
}

export const eventListQuerySchema = z.strictObject({
  /** Page backwards: events older than this sequence number. */
  before: z.coerce.number().int().min(1).optional(),
  /** Only events newer than this sequence number. */
  after: z.coerce.number().int().min(0).optional(),
  actor_id: z.uuid().optional(),
  target_id: z.string().max(100).optional(),
  action: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const eventListSchema = z.object({ items: z.array(auditEventSchema), next_cursor: z.number().int().nullable(), seq: pageSeqSchema });
export type EventList = z.infer<typeof eventListSchema>;

// ---- Presence and the connection ------------------------------------------------------------------

export interface PresenceUser {
  id: string;
  username: string;
  display_name: string;
  role: string;
}

export interface Presence {
  /** Staff signed in with a live connection now. */
  online: PresenceUser[];
  /** user id → ids of the staff who have that user open. */
  viewing: Record<string, string[]>;
  /** user id → ids of the staff editing that user. */
  editing: Record<string, string[]>;
}

/**
 * Which sessions have a live connection, for the staff's online dots: the whole list once when a
 * staff connection opens (`snapshot`), then what changed, gathered a quarter of a second at a time.
 * Each pair is [user id, session id].
 */
export interface Connections {
  online: [string, string][];
  offline: [string, string][];
  snapshot: boolean;
}

export const presenceUpdateSchema = z.strictObject({
  viewing: z.uuid().nullable().optional(),
  editing: z.uuid().nullable().optional(),
});
export type PresenceUpdate = z.infer<typeof presenceUpdateSchema>;

/**
 * What a client passes in the Socket.IO handshake (`auth`): `after`, the last sequence it saw, to
 * be sent what it missed before anything else; omitted on a first connection, to start from now.
 */
export const liveHandshakeSchema = z.strictObject({ after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() });
export type LiveHandshake = z.infer<typeof liveHandshakeSchema>;

/** The most events a resume replays; a client further behind is told to refetch. */
export const MAX_REPLAY = 1000;

export interface ServerToClientEvents {
  /** One audit event, in sequence order, never twice, shaped for the receiver's audience. */
  event: (event: LiveEvent) => void;
  /**
   * Sent once per connection, after the replay of what the client missed (`replayed` events):
   * everything up to `seq` has been sent, and what follows streams live.
   */
  live: (payload: { seq: number; replayed: number }) => void;
  stats: (stats: UserStats) => void;
  presence: (presence: Presence) => void;
  connections: (connections: Connections) => void;
  /** Sent to a session's sockets just before the server closes them. */
  'session.ended': (payload: { reason: SessionEndReason }) => void;
  /** The client missed more than the server replays: refetch lists, then resume from `seq`. */
  resync: (payload: { seq: number }) => void;
  /** This node is shutting down: the connection closes next; reconnect (to another node) and resume. */
  'server.draining': () => void;
}

/** Clients send only presence, rate-limited per connection (the resume point travels in the handshake). */
export interface ClientToServerEvents {
  presence: (update: PresenceUpdate) => void;
}
