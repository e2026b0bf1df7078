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
  'session.revoked_all',
  'session.rotated',
  'api_key.created',
  'api_key.revoked',
  'auth.login_failed',
  'project.created',
  'project.updated',
  'project.deleted',
  'application.created',
  'application.updated',
  'application.deleted',
  'application.secret_rotated',
  'application.signed_in',
  'application.signed_out',
  'usage.recorded',
] as const;
export type EventAction = (typeof eventActions)[number];

/** Why a session ended; the console tells its user (`session.ended`). */
export type SessionEndReason =
  | 'logout'
  | 'revoked'
  | 'password_reset'
  | 'password_changed'
  | 'deactivated'
  | 'deleted'
  /** Past its absolute lifetime, or idle for too long. */
  | 'expired'
  /** A newer sign-in in the same browser, or beyond SESSION_MAX_PER_USER. */
  | 'replaced';

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
  event: (event: AuditEvent) => void;
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
