import { z } from 'zod';
import type { AuditEvent, UserStats } from './schemas.ts';

/** Every action the live feed and the audit log carry. */
export const eventActions = [
  'user.created',
  'user.updated',
  'user.deleted',
  'user.password_reset',
  'session.created',
  'session.revoked',
  'api_key.created',
  'api_key.revoked',
  'auth.login_failed',
  'project.created',
  'project.updated',
  'project.deleted',
  'usage.recorded',
] as const;
export type EventAction = (typeof eventActions)[number];

/** Why a session ended; the console tells its user (`session.ended`). */
export type SessionEndReason = 'logout' | 'revoked' | 'password_reset' | 'password_changed' | 'deactivated' | 'deleted' | 'expired';

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
  /** Every user with a live connection (any role) → the ids of the sessions connected. */
  connected: Record<string, string[]>;
}

export const presenceUpdateSchema = z.strictObject({
  viewing: z.uuid().nullable().optional(),
  editing: z.uuid().nullable().optional(),
});
export type PresenceUpdate = z.infer<typeof presenceUpdateSchema>;

/** `after`: the last sequence seen; omitted on a first connection, to start from now. */
export const resumeRequestSchema = z.strictObject({ after: z.number().int().min(0).optional() });
export type ResumeRequest = z.infer<typeof resumeRequestSchema>;

/** The most events a resume replays; a client further behind is told to refetch. */
export const MAX_REPLAY = 1000;

export interface ServerToClientEvents {
  /** One audit event, in sequence order, never twice. */
  event: (event: AuditEvent) => void;
  stats: (stats: UserStats) => void;
  presence: (presence: Presence) => void;
  /** Sent to a session's sockets just before the server closes them. */
  'session.ended': (payload: { reason: SessionEndReason }) => void;
  /** The client missed more than the server replays: refetch lists, then resume from `seq`. */
  resync: (payload: { seq: number }) => void;
  /** This node is shutting down: the connection closes next; reconnect (to another node) and resume. */
  'server.draining': () => void;
}

export interface ClientToServerEvents {
  /**
   * On every (re)connect: replay what came after the last sequence seen (or, without `after`, start
   * from now). The ack carries the sequence reached.
   */
  resume: (request: ResumeRequest, ack?: (result: { seq: number; replayed: number } | { error: string }) => void) => void;
  presence: (update: PresenceUpdate) => void;
}
