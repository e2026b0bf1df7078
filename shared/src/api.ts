import type { z } from 'zod';
import type { Capability } from './permissions.ts';
import * as apps from './applications.ts';
import { eventListQuerySchema, eventListSchema } from './events.ts';
import * as inv from './invitations.ts';
import { passwordResetRequestSchema } from './recovery.ts';
import { importRequestSchema, importResultSchema, userExportQuerySchema } from './imports.ts';
import * as s from './schemas.ts';
import * as tf from './two-factor.ts';

/**
 * Who may call a route:
 * - `public`: anyone, signed in or not;
 * - `signed_in`: any session or API key (system keys included);
 * - `account`: a principal that is a user account (a session, or a user's own API key; not a system key);
 * - `session`: a browser session only;
 * - a capability from the permission matrix.
 * Routes whose rule is "own, or everyone's with a capability" are `signed_in` here and narrowed by the service.
 */
export type Access = 'public' | 'signed_in' | 'account' | 'session' | Capability;

/** A route: every one answers with its `response` schema, except those that answer 204 with no body. */
export type RouteSpec = {
  access: Access;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Open to a user who must still replace a password an admin set (everything else answers `password_change_required`). */
  duringPasswordChange?: true;
  /** Open to staff who must set up two-factor sign-in first (everything else answers `two_factor_setup_required`). */
  duringTwoFactorSetup?: true;
} & (
  | { response: z.ZodType; /** The success status, when not 200. */ status?: 201 }
  | { status: 204; response?: never }
  /** A file download (streamed), not JSON. */
  | { produces: 'text/csv'; response?: never; status?: never }
);

/** Every route under `/api/v1`, keyed by `METHOD /path`. The server mounts exactly these, and the OpenAPI document lists them. */
export const apiRoutes = {
  'GET /setup': { access: 'public', summary: 'First-run state', response: s.setupStateSchema },
  'POST /setup': { access: 'public', summary: 'Create the first admin with the setup token', body: s.setupRequestSchema, response: s.userResponseSchema, status: 201 },
  'POST /auth/login': { access: 'public', summary: 'Sign in with username or email; with two-factor sign-in on, a second step follows', body: s.loginRequestSchema, response: tf.loginResultSchema },
  'POST /auth/second-factor': { access: 'public', summary: 'The second step of a sign-in: a code from the authenticator app, or a recovery code', body: tf.secondFactorRequestSchema, response: s.userResponseSchema },
  'POST /auth/logout': { access: 'session', summary: 'End the current session', status: 204, duringPasswordChange: true, duringTwoFactorSetup: true },
  'POST /auth/reauthenticate': { access: 'session', summary: 'Confirm the password before a sensitive change; replaces the session token', body: s.reauthenticateSchema, response: s.reauthenticatedSchema, duringTwoFactorSetup: true },
  'POST /auth/register': { access: 'public', summary: 'Self-registration (when ALLOW_REGISTRATION=true)', body: s.registerRequestSchema, response: s.userResponseSchema, status: 201 },
  'POST /auth/invitation/lookup': { access: 'public', summary: 'Who an invitation link is for (the accept page)', body: inv.linkTokenSchema, response: inv.linkPreviewSchema },
  'POST /auth/invitation/accept': { access: 'public', summary: 'Accept an invitation: the account is created with the chosen password and this browser signed in; the link is used up', body: inv.chooseLinkPasswordSchema, response: s.userResponseSchema, status: 201 },
  'POST /auth/password-reset': { access: 'public', summary: 'Forgot password: mail a reset link to the address, if it has an account (the answer is the same either way)', body: passwordResetRequestSchema, status: 204 },
  'POST /auth/password-reset/lookup': { access: 'public', summary: 'Who a password reset link is for (the choose-new-password page)', body: inv.linkTokenSchema, response: inv.linkPreviewSchema },
  'POST /auth/password-reset/complete': { access: 'public', summary: 'Choose a new password with a reset link: every session and API key of the account ends, and this browser is signed in (with two-factor sign-in on, its second step follows, as after POST /auth/login)', body: inv.chooseLinkPasswordSchema, response: tf.loginResultSchema },
  'GET /auth/me': { access: 'account', summary: 'The signed-in user and session', response: s.meResponseSchema, duringPasswordChange: true, duringTwoFactorSetup: true },
  'GET /me/two-factor': { access: 'account', summary: 'Own two-factor sign-in: on or off, recovery codes left, whether it is required', response: tf.twoFactorStatusSchema, duringTwoFactorSetup: true },
  'POST /me/two-factor': { access: 'session', summary: 'Start setting up an authenticator app (needs a recent password confirmation); on once confirmed', response: tf.totpEnrolmentSchema, duringTwoFactorSetup: true },
  'POST /me/two-factor/confirm': { access: 'session', summary: 'Confirm the authenticator with a first code: two-factor sign-in is on; the recovery codes are shown once', body: tf.confirmTotpSchema, response: tf.recoveryCodesSchema, duringTwoFactorSetup: true },
  'POST /me/two-factor/recovery-codes': { access: 'session', summary: 'New recovery codes (needs a recent password confirmation); the old ones stop working', response: tf.recoveryCodesSchema },
  'DELETE /me/two-factor': { access: 'session', summary: 'Turn two-factor sign-in off (needs a recent password confirmation)', status: 204 },
  'PATCH /me': { access: 'account', summary: 'Update own profile (a new email needs a recent password confirmation)', body: s.updateMeSchema, response: s.userResponseSchema },
  'PUT /me/password': { access: 'session', summary: 'Change own password; ends the other sessions (and, if asked, the API keys); replaces the session token', body: s.changePasswordSchema, response: s.userResponseSchema, duringPasswordChange: true },
  'GET /users': { access: 'users.read', summary: 'List and search users', query: s.userListQuerySchema, response: s.userListSchema },
  'GET /users/stats': { access: 'users.read', summary: 'User statistics', response: s.userStatsSchema },
  'POST /users': { access: 'users.write', summary: 'Create a user', body: s.createUserSchema, response: s.createdUserSchema, status: 201 },
  'POST /users/bulk': { access: 'users.write', summary: 'Activate, deactivate, delete or change the role of many users', body: s.bulkRequestSchema, response: s.bulkResultSchema },
  'POST /users/import': { access: 'users.write', summary: `Import users: a chunk of up to 500 rows of a CSV file, already mapped to fields; existing usernames are skipped or updated (mode); dry_run checks every row and writes nothing. One transaction per chunk, a result per row`, body: importRequestSchema, response: importResultSchema },
  'GET /users/export.csv': { access: 'users.write', summary: 'The users matching the filters as CSV, streamed (every match, in the sort given; cells that a spreadsheet would run as a formula are escaped)', query: userExportQuerySchema, produces: 'text/csv' },
  'GET /users/:id': { access: 'users.read', summary: 'Read a user', response: s.userResponseSchema },
  'PATCH /users/:id': { access: 'users.write', summary: 'Update a user (optimistic concurrency on version)', body: s.updateUserSchema, response: s.userResponseSchema },
  'DELETE /users/:id': { access: 'users.write', summary: 'Delete a user; their projects are deleted or transferred', query: s.deleteUserQuerySchema, status: 204 },
  'PUT /users/:id/password': { access: 'users.write', summary: 'Set a user\'s password', body: s.adminSetPasswordSchema, response: s.userResponseSchema },
  'DELETE /users/:id/two-factor': { access: 'users.write', summary: 'Reset a user\'s two-factor sign-in (a lost phone): their authenticator and recovery codes are removed, their sessions end', response: s.userResponseSchema },
  'POST /users/:id/password-reset': { access: 'users.write', summary: 'Mail the user a password reset link (their password keeps working until they follow it)', status: 204 },
  'GET /invitations': { access: 'users.write', summary: 'Pending invitations, newest first', response: inv.invitationListSchema },
  'POST /invitations': { access: 'users.write', summary: 'Invite someone by mail: the link lets them choose a password, and the account is created when they do', body: inv.inviteUserSchema, response: inv.invitationResponseSchema, status: 201 },
  'POST /invitations/import': { access: 'users.write', summary: `Invite by mail from a CSV file: a chunk of up to 500 rows (username, email, display name, role; no password), already mapped to fields; usernames with an account or a pending invitation are skipped; dry_run checks every row and writes nothing. One transaction per chunk, a result per row, the mails sent after it commits`, body: inv.invitationImportRequestSchema, response: inv.invitationImportResultSchema },
  'POST /invitations/:id/resend': { access: 'users.write', summary: 'Send a new invitation link (valid 7 days); the previous one stops working', response: inv.invitationResponseSchema },
  'DELETE /invitations/:id': { access: 'users.write', summary: 'Revoke an invitation that was not accepted yet; its link stops working', status: 204 },
  'GET /users/:id/export': { access: 'users.write', summary: 'Everything about a user as JSON', response: s.userExportSchema },
  'DELETE /users/:id/sessions': { access: 'signed_in', summary: 'Sign a user out everywhere: every session and API key ends (own after a password confirmation, or anyone\'s for admins); except_current=true ends only the other sessions', query: s.revokeUserSessionsQuerySchema, status: 204 },
  'POST /sessions/revoke-all': { access: 'sessions.all', summary: 'End every session of every user (after a breach); needs a recent password confirmation', body: s.revokeEverySessionSchema, response: s.revokedEverySessionSchema },
  'GET /sessions': { access: 'signed_in', summary: 'Active sessions (own, or everyone\'s for admins), most recently used first, a page at a time', query: s.sessionListQuerySchema, response: s.sessionListSchema },
  'DELETE /sessions/:id': { access: 'signed_in', summary: 'End a session (own, or anyone\'s for admins)', status: 204 },
  'GET /api-keys': { access: 'signed_in', summary: 'Own API keys (admins: also system keys)', response: s.apiKeyListSchema },
  'POST /api-keys': { access: 'session', summary: 'Create an API key (needs a recent password confirmation); the key is shown once', body: s.createApiKeySchema, response: s.createdApiKeySchema, status: 201 },
  'DELETE /api-keys/:id': { access: 'signed_in', summary: 'Revoke an API key', status: 204 },
  'GET /users/:id/usage': { access: 'signed_in', summary: 'This month\'s usage against the budgets (own, or anyone\'s for staff)', response: s.userUsageSchema },
  'POST /usage': { access: 'system.manage', summary: 'Report usage (host applications, with a system key)', body: s.reportUsageSchema, response: s.usageReportedSchema, status: 201 },
  'GET /usage/check': { access: 'system.manage', summary: 'May a user spend this much more this month?', query: s.usageCheckQuerySchema, response: s.usageCheckSchema },
  'GET /projects': { access: 'signed_in', summary: 'Projects: all for staff, own and assigned for others (row-level security)', query: s.userFilterQuerySchema, response: s.projectListSchema },
  'POST /projects': { access: 'projects.manage', summary: 'Create a project', body: s.createProjectSchema, response: s.projectResponseSchema, status: 201 },
  'GET /projects/:id': { access: 'signed_in', summary: 'Read a project (if visible)', response: s.projectResponseSchema },
  'PATCH /projects/:id': { access: 'projects.manage', summary: 'Rename, change owner, or set item count and size', body: s.updateProjectSchema, response: s.projectResponseSchema },
  'DELETE /projects/:id': { access: 'projects.manage', summary: 'Delete a project', status: 204 },
  'POST /projects/:id/members': { access: 'projects.manage', summary: 'Assign a user to a project', body: s.projectMemberSchema, response: s.projectResponseSchema },
  'DELETE /projects/:id/members/:userId': { access: 'projects.manage', summary: 'Remove a user from a project', response: s.projectResponseSchema },
  'GET /stats/overview': { access: 'users.read', summary: 'Statistics: users, sign-ins, sessions, usage, top consumers, storage', response: s.overviewSchema },
  'GET /applications': { access: 'system.manage', summary: 'Applications that sign people in through Roster', response: apps.applicationListSchema },
  'POST /applications': { access: 'system.manage', summary: 'Register an application; its client secret is shown once', body: apps.createApplicationSchema, response: apps.applicationWithSecretSchema, status: 201 },
  'PATCH /applications/:id': { access: 'system.manage', summary: 'Change an application (narrowing access or disabling it ends every sign-in to it)', body: apps.updateApplicationSchema, response: apps.applicationResponseSchema },
  'POST /applications/:id/secret': { access: 'system.manage', summary: 'Replace the client secret; the new one is shown once', response: apps.applicationWithSecretSchema },
  'DELETE /applications/:id': { access: 'system.manage', summary: 'Remove an application; its grants and tokens end', status: 204 },
  'GET /users/:id/applications': { access: 'users.read', summary: 'The applications a user has signed in to', response: apps.userApplicationsSchema },
  'DELETE /users/:id/applications/:applicationId': { access: 'sessions.all', summary: 'Sign a user out of one application, in every session (a back-channel logout each); they may sign in again', status: 204 },
  'DELETE /sessions/:id/applications/:applicationId': { access: 'signed_in', summary: 'Sign a session out of one application (own, or anyone\'s for admins); the session goes on', status: 204 },
  'GET /authorizations/:uid': { access: 'session', summary: 'An application\'s pending sign-in request, for the console\'s authorization page', response: apps.authorizationSchema },
  'POST /authorizations/:uid': { access: 'session', summary: 'Allow or decline an application\'s sign-in request', body: apps.authorizationDecisionSchema, response: apps.authorizationResultSchema },
  'GET /auth/verify': { access: 'public', summary: 'Forward authentication for reverse proxies (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth)', query: apps.verifyQuerySchema, response: apps.verifiedSchema },
  'GET /auth/return-to': { access: 'session', summary: 'Where to go after signing in for an application behind a proxy (validated)', query: apps.returnToQuerySchema, response: apps.returnToSchema },
  'GET /events': { access: 'audit.read', summary: 'The audit log, newest first', query: eventListQuerySchema, response: eventListSchema },
} as const satisfies Record<string, RouteSpec>;

export type RouteKey = keyof typeof apiRoutes;

type Route<K extends RouteKey> = (typeof apiRoutes)[K];

/** What a route answers: its response schema's output, or nothing (204). */
export type ResponseOf<K extends RouteKey> = Route<K> extends { response: infer S extends z.ZodType } ? z.output<S> : undefined;

/** Routes that answer JSON (the console's `api()` calls these; downloads are links). */
export type JsonRouteKey = { [K in RouteKey]: Route<K> extends { produces: string } ? never : K }[RouteKey];

/**
 * What a call of a route sends, typed from the route table: the parameters its path names
 * (`/users/:id` → `params: {id}`), its query and its body as the schemas take them (their input).
 */
export type RequestOf<K extends RouteKey> = ParamsOf<K> & QueryOf<K> & BodyOf<K>;

type PathParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Record<Name, string> & PathParams<Rest>
  : P extends `${string}:${infer Name}`
    ? Record<Name, string>
    : {};
type ParamsOf<K extends RouteKey> = K extends `${string} /${infer Path}` ? ({} extends PathParams<Path> ? {} : { params: PathParams<Path> }) : never;
type QueryOf<K extends RouteKey> =
  Route<K> extends { query: infer S extends z.ZodType } ? ({} extends z.input<S> ? { query?: z.input<S> } : { query: z.input<S> }) : {};
type BodyOf<K extends RouteKey> = Route<K> extends { body: infer S extends z.ZodType } ? { body: z.input<S> } : {};

/** What a call of a route takes after its key: the request, which may be left out when nothing in it is required. */
export type RequestArgs<K extends RouteKey> = {} extends RequestOf<K> ? [request?: RequestOf<K>] : [request: RequestOf<K>];

/** A request as code that serves every route sees it (the route's own types are checked by its caller). */
export interface RouteCall {
  params?: Record<string, string>;
  query?: unknown;
  body?: unknown;
}

/** `GET /users/:id` with `{id}` → `GET`, `/users/<id>?<query>` (fields left undefined are left out; the path is below `/api/v1`). */
export function routeTarget(route: RouteKey, { params = {}, query }: RouteCall): { method: string; path: string } {
  const [method = 'GET', pattern = '/'] = route.split(' ');
  const path = pattern.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
  const search = new URLSearchParams();
  if (typeof query === 'object' && query !== null) {
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
  }
  const queryString = search.toString();
  return { method, path: queryString ? `${path}?${queryString}` : path };
}
