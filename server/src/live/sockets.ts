import type { Server, Socket } from 'socket.io';
import { staffRoles, type AuditEvent, type ClientToServerEvents, type ServerToClientEvents } from '@roster/shared';
import type { SessionRow, SessionUser } from '../auth/sessions.ts';

// What the live channel keeps on each connection, and the typed server and socket.

export interface SocketData {
  user: SessionUser;
  session: SessionRow;
  presence: { viewing: string | null; editing: string | null };
  /** Where the client resumes from (the handshake's `auth.after`); undefined: from now. */
  resumeFrom: number | undefined;
  /** Highest sequence sent to this socket before it went live: nothing at or below it is sent again. */
  delivered: number;
  /** Live events held back while the replay of what the client missed runs (null once live). */
  pending: AuditEvent[] | null;
}

/** [user id, session id] of one connected session. */
export type Connection = [string, string];

/** What nodes tell each other through the adapter (live/connections.ts). */
export interface NodeEvents {
  'roster:connections': (changes: { node: string; online: Connection[]; offline: Connection[] }) => void;
  'roster:connections-list': (list: { node: string; sessions: Connection[] }) => void;
  'roster:connections-ask': () => void;
}

export type LiveServer = Server<ClientToServerEvents, ServerToClientEvents, NodeEvents, SocketData>;
export type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, NodeEvents, SocketData>;

/** The rooms every socket joins: its user, its role, its session. Staff are the admin and moderator rooms. */
export const userRoom = (userId: string) => `user:${userId}`;
export const roleRoom = (role: string) => `role:${role}`;
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;
export const STAFF_ROOMS = staffRoles.map(roleRoom);
