// Over 300 lines for a reason: one handler per route of the shared route table (the compiler checks the set is exact), each a few lines that parse, call one service and answer; split by domain they would scatter that check.
import type { TypedResponse } from 'hono';
import type { ResponseFormat } from 'hono/types';
import type { StatusCode } from 'hono/utils/http-status';
import { apiRoutes, can, type ResponseOf, type RouteKey, type SetupState } from '@roster/shared';
import { changeOwnPassword, reauthenticate, updateOwnProfile } from '../services/account.ts';
import { login, register, type ClientInfo, type SignedIn } from '../services/auth.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../services/api-keys.ts';
import {
  createApplication,
  deleteApplication,
  listApplications,
  rotateApplicationSecret,
  signOutOfApplication,
  updateApplication,
  userApplications,
} from '../services/applications.ts';
import { listEvents } from '../services/events.ts';
import { returnTo, verifyForwardAuth } from '../services/forward-auth.ts';
import { authorizationDetails, decideAuthorization } from '../oidc/interactions.ts';
import { listSessions, logout, revokeAllSessions, revokeEverySession, revokeSession, toSessionDto } from '../services/sessions.ts';
import {
  createProject,
  deleteProject,
  getProject,
  listProjects,
  setMembership,
  updateProject,
} from '../services/projects.ts';
import { completeSetup, needsSetup } from '../services/setup.ts';
import { checkPasswordPolicy } from '../auth/password-policy.ts';
import { mustSetUpTwoFactor } from '../auth/two-factor-policy.ts';
import { overview } from '../services/stats.ts';
import { checkUsage, reportUsage, userUsage } from '../services/usage.ts';
import { bulkUpdate, createUserAsAdmin, deleteUser, updateUser } from '../services/users/changes.ts';
import { MAX_CONCURRENT_EXPORTS, usersCsvStream } from '../services/users/export-csv.ts';
import { importUsers } from '../services/users/imports.ts';
import { exportUser, getUser, listUsers, userStats } from '../services/users/listing.ts';
import { resetPassword } from '../services/users/passwords.ts';
import { completePasswordReset, previewPasswordReset, requestPasswordReset, sendPasswordReset } from '../services/users/recovery.ts';
import { importInvitations } from '../services/invitation-imports.ts';
import { acceptInvitation, inviteUser, listInvitations, previewInvitation, resendInvitation, revokeInvitation } from '../services/invitations.ts';
import { newSignInMail, passwordChangedMail } from '../mail/templates.ts';
import {
  confirmTotpEnrolment,
  disableTwoFactor,
  regenerateRecoveryCodes,
  resetTwoFactor,
  startTotpEnrolment,
  twoFactorStatus,
} from '../services/two-factor/enrolment.ts';
import { completeSecondFactor } from '../services/two-factor/sign-in.ts';
import {
  accountOf,
  actorOf,
  clientInfo,
  parseBody,
  parseQuery,
  principalOf,
  interactionUid,
  uuidParam,
  viewerOf,
  type AppContext,
  type Deps,
} from './context.ts';
import { AppError } from '../errors.ts';
import {
  browserCookies,
  clearPendingLogin,
  clearSessionCookie,
  readPendingLogin,
  writePendingLogin,
  writeSessionCookie,
  writeSignedIn,
} from './session-cookie.ts';

/**
 * A route's handler answers with what the route's response schema describes (as `c.json` sends it:
 * dates become text), so the OpenAPI document and the console's client types say what is sent.
 */
/** A handler answers what its route's schema says, or sends the browser elsewhere (a redirect carries no body). */
type RouteHandler<K extends RouteKey> = (
  c: AppContext,
) => Promise<TypedResponse<AnswerOf<K>, StatusCode, ResponseFormat> | TypedResponse<undefined, 302, 'redirect'>>;
/** A download (`produces`) answers a byte stream; a 204 nothing. */
type AnswerOf<K extends RouteKey> = (typeof apiRoutes)[K] extends { produces: string }
  ? ReadableStream<Uint8Array>
  : ResponseOf<K> extends undefined
    ? null
    : ResponseOf<K>;

/** One handler per route of the shared route table; the compiler insists on exactly that set. */
export function routeHandlers(deps: Deps): { [K in RouteKey]: RouteHandler<K> } {
  const { sql, config, live, sessionPolicy, signInLimits: limits, mail } = deps;
  const password = { fields: ['password'], minLength: config.PASSWORD_MIN_LENGTH };
  /** ASVS 6.3.7: the owner hears of every password change, wherever it came from. */
  const tellPasswordChanged = (user: { email: string; display_name: string; username: string }, how: 'self' | 'admin') =>
    mail.mailer.deliver(passwordChangedMail({ to: user.email, displayName: user.display_name, username: user.username, origin: mail.origin, how }));
  let exportsRunning = 0;
  /** A sign-in from a browser the account never used before: its owner is told (ASVS 6.3.5). */
  const mailNewDevice = (signedIn: SignedIn, client: ClientInfo) => {
    if (!signedIn.newDevice) return;
    const { user } = signedIn;
    mail.mailer.deliver(newSignInMail({ to: user.email, displayName: user.display_name, username: user.username, origin: mail.origin, at: new Date(), ip: client.ip, userAgent: client.userAgent }));
  };
  return {
    'GET /setup': async (c) => {
      const state: SetupState = {
        needs_setup: await needsSetup(sql),
        registration_open: config.ALLOW_REGISTRATION,
        password_min_length: config.PASSWORD_MIN_LENGTH,
        public_sharing: config.ENABLE_PUBLIC_SHARING,
        mail_configured: mail.mailer.configured,
      };
      return c.json(state);
    },
    'POST /setup': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /setup'].body, password);
      const signedIn = await completeSetup(sql, request, clientInfo(c, deps), browserCookies(c, deps.cookies), sessionPolicy);
      writeSignedIn(c, signedIn, deps.cookies);
      return c.json({ user: signedIn.user }, 201);
    },
    'POST /auth/login': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /auth/login'].body);
      const client = clientInfo(c, deps);
      const outcome = await login(sql, request, client, browserCookies(c, deps.cookies), limits, sessionPolicy, mail);
      if ('pending' in outcome) {
        writePendingLogin(c, outcome.pending.token, outcome.pending.expiresAt, deps.cookies);
        return c.json({ second_factor_required: true as const, expires_at: outcome.pending.expiresAt.toISOString() });
      }
      mailNewDevice(outcome.signedIn, client);
      writeSignedIn(c, outcome.signedIn, deps.cookies);
      return c.json({ user: outcome.signedIn.user });
    },
    'POST /auth/second-factor': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /auth/second-factor'].body);
      const client = clientInfo(c, deps);
      const signedIn = await completeSecondFactor(sql, readPendingLogin(c), request, client, browserCookies(c, deps.cookies), limits, sessionPolicy, deps.clock());
      clearPendingLogin(c, deps.cookies);
      mailNewDevice(signedIn, client);
      writeSignedIn(c, signedIn, deps.cookies);
      return c.json({ user: signedIn.user });
    },
    'POST /auth/logout': async (c) => {
      await logout(sql, actorOf(c, deps));
      clearSessionCookie(c, deps.cookies);
      return c.body(null, 204);
    },
    'POST /auth/reauthenticate': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /auth/reauthenticate'].body);
      const { token, session } = await reauthenticate(sql, actorOf(c, deps), request.password, limits);
      writeSessionCookie(c, token, session.expires_at, deps.cookies);
      return c.json({ session: toSessionDto(session) });
    },
    'POST /auth/register': async (c) => {
      if (!config.ALLOW_REGISTRATION) throw new AppError('registration_closed', 'Registration is closed; ask an administrator for an account');
      const request = await parseBody(c, apiRoutes['POST /auth/register'].body, password);
      const signedIn = await register(sql, request, clientInfo(c, deps), browserCookies(c, deps.cookies), limits, sessionPolicy);
      writeSignedIn(c, signedIn, deps.cookies);
      return c.json({ user: signedIn.user }, 201);
    },
    'POST /auth/invitation/lookup': async (c) => {
      const { token } = await parseBody(c, apiRoutes['POST /auth/invitation/lookup'].body);
      return c.json(await previewInvitation(sql, token));
    },
    'POST /auth/invitation/accept': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /auth/invitation/accept'].body, password);
      const signedIn = await acceptInvitation(sql, request, clientInfo(c, deps), browserCookies(c, deps.cookies), sessionPolicy, config.PASSWORD_MIN_LENGTH);
      writeSignedIn(c, signedIn, deps.cookies);
      return c.json({ user: signedIn.user }, 201);
    },
    'POST /auth/password-reset': async (c) => {
      const { email } = await parseBody(c, apiRoutes['POST /auth/password-reset'].body);
      await requestPasswordReset(sql, email, clientInfo(c, deps).ip, deps.resetLimits, mail);
      return c.body(null, 204);
    },
    'POST /auth/password-reset/lookup': async (c) => {
      const { token } = await parseBody(c, apiRoutes['POST /auth/password-reset/lookup'].body);
      return c.json(await previewPasswordReset(sql, token));
    },
    'POST /auth/password-reset/complete': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /auth/password-reset/complete'].body, password);
      const outcome = await completePasswordReset(sql, request, clientInfo(c, deps), browserCookies(c, deps.cookies), sessionPolicy, config.PASSWORD_MIN_LENGTH, mail);
      if ('pending' in outcome) {
        writePendingLogin(c, outcome.pending.token, outcome.pending.expiresAt, deps.cookies);
        return c.json({ second_factor_required: true as const, expires_at: outcome.pending.expiresAt.toISOString() });
      }
      writeSignedIn(c, outcome.signedIn, deps.cookies);
      return c.json({ user: outcome.signedIn.user });
    },
    'GET /auth/me': async (c) => {
      // The user was read with the session or key, in the same query: no second round trip.
      const principal = principalOf(c);
      return c.json({
        user: accountOf(c),
        session: principal.session ? toSessionDto(principal.session) : null,
        two_factor_required_by: principal.twoFactorRequiredBy?.toISOString() ?? null,
      });
    },
    'GET /me/two-factor': async (c) => {
      const account = accountOf(c);
      const required = mustSetUpTwoFactor(deps.twoFactorPolicy, { role: account.role, two_factor_enabled: false });
      return c.json(await twoFactorStatus(sql, account.id, { required, requiredBy: principalOf(c).twoFactorRequiredBy }));
    },
    'POST /me/two-factor': async (c) => c.json(await startTotpEnrolment(sql, actorOf(c, deps), deps.origins[0]!)),
    'POST /me/two-factor/confirm': async (c) => {
      const { code, enrolment_id } = await parseBody(c, apiRoutes['POST /me/two-factor/confirm'].body);
      const { recoveryCodes } = await confirmTotpEnrolment(sql, actorOf(c, deps), { code, enrolmentId: enrolment_id }, deps.clock(), mail);
      return c.json(recoveryCodes);
    },
    'POST /me/two-factor/recovery-codes': async (c) => c.json(await regenerateRecoveryCodes(sql, actorOf(c, deps), mail)),
    'DELETE /me/two-factor': async (c) => {
      await disableTwoFactor(sql, actorOf(c, deps), deps.twoFactorPolicy, mail);
      return c.body(null, 204);
    },
    'PATCH /me': async (c) => {
      const request = await parseBody(c, apiRoutes['PATCH /me'].body);
      accountOf(c);
      return c.json({ user: await updateOwnProfile(sql, actorOf(c, deps), request, mail) });
    },
    'PUT /me/password': async (c) => {
      const request = await parseBody(c, apiRoutes['PUT /me/password'].body, { ...password, fields: ['new_password'] });
      checkPasswordPolicy(request.new_password, config.PASSWORD_MIN_LENGTH, await getUser(sql, accountOf(c).id), 'new_password');
      const changed = await changeOwnPassword(sql, actorOf(c, deps), request, limits);
      tellPasswordChanged(changed.user, 'self');
      writeSessionCookie(c, changed.token, changed.session.expires_at, deps.cookies);
      return c.json({ user: changed.user });
    },
    'GET /users': async (c) => c.json(await listUsers(sql, parseQuery(c, apiRoutes['GET /users'].query), deps.clock())),
    'GET /users/stats': async (c) => c.json(await userStats(sql, live.onlineUserCount())),
    'POST /users': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /users'].body, password);
      return c.json(await createUserAsAdmin(sql, actorOf(c, deps), request), 201);
    },
    'POST /users/bulk': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /users/bulk'].body);
      return c.json(await bulkUpdate(sql, actorOf(c, deps), request));
    },
    'POST /users/import': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /users/import'].body);
      return c.json(await importUsers(sql, actorOf(c, deps), request, config.PASSWORD_MIN_LENGTH, mail));
    },
    'GET /users/export.csv': async (c) => {
      const query = parseQuery(c, apiRoutes['GET /users/export.csv'].query);
      const day = deps.clock().toISOString().slice(0, 10);
      const headers = { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="roster-users-${day}.csv"` };
      // HEAD is answered from GET, and a stream started for it would never be read nor cancelled.
      if (c.req.method === 'HEAD') return c.body(new ReadableStream<Uint8Array>({ start: (body) => body.close() }), 200, headers);
      if (exportsRunning >= MAX_CONCURRENT_EXPORTS) throw new AppError('rate_limited', 'Other exports are running; try again in a moment');
      exportsRunning++;
      return c.body(usersCsvStream(sql, query, () => exportsRunning--), 200, headers);
    },
    'GET /users/:id': async (c) => c.json({ user: await getUser(sql, uuidParam(c)) }),
    'PATCH /users/:id': async (c) => {
      const id = uuidParam(c);
      const request = await parseBody(c, apiRoutes['PATCH /users/:id'].body);
      return c.json({ user: await updateUser(sql, actorOf(c, deps), id, request, mail) });
    },
    'DELETE /users/:id': async (c) => {
      const id = uuidParam(c);
      await deleteUser(sql, actorOf(c, deps), id, parseQuery(c, apiRoutes['DELETE /users/:id'].query));
      return c.body(null, 204);
    },
    'PUT /users/:id/password': async (c) => {
      const id = uuidParam(c);
      const request = await parseBody(c, apiRoutes['PUT /users/:id/password'].body, password);
      checkPasswordPolicy(request.password, config.PASSWORD_MIN_LENGTH, await getUser(sql, id));
      const user = await resetPassword(sql, actorOf(c, deps), id, request.password, request.revoke_sessions);
      tellPasswordChanged(user, 'admin');
      return c.json({ user });
    },
    'POST /users/:id/password-reset': async (c) => {
      await sendPasswordReset(sql, actorOf(c, deps), uuidParam(c), mail);
      return c.body(null, 204);
    },
    'GET /invitations': async (c) => c.json(await listInvitations(sql)),
    'POST /invitations': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /invitations'].body);
      return c.json({ invitation: await inviteUser(sql, actorOf(c, deps), request, mail) }, 201);
    },
    'POST /invitations/import': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /invitations/import'].body);
      return c.json(await importInvitations(sql, actorOf(c, deps), request, mail));
    },
    'POST /invitations/:id/resend': async (c) => c.json({ invitation: await resendInvitation(sql, actorOf(c, deps), uuidParam(c), mail) }),
    'DELETE /invitations/:id': async (c) => {
      await revokeInvitation(sql, actorOf(c, deps), uuidParam(c));
      return c.body(null, 204);
    },
    'DELETE /users/:id/two-factor': async (c) => c.json({ user: await resetTwoFactor(sql, actorOf(c, deps), uuidParam(c), deps.twoFactorPolicy, mail) }),
    'GET /users/:id/export': async (c) => {
      const data = await exportUser(sql, uuidParam(c));
      c.header('Content-Disposition', `attachment; filename="roster-user-${data.user.username}.json"`);
      return c.json(data);
    },
    'DELETE /users/:id/sessions': async (c) => {
      const id = uuidParam(c);
      const { except_current } = parseQuery(c, apiRoutes['DELETE /users/:id/sessions'].query);
      await revokeAllSessions(sql, actorOf(c, deps), id, except_current);
      return c.body(null, 204);
    },
    'POST /sessions/revoke-all': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /sessions/revoke-all'].body);
      return c.json({ ended: await revokeEverySession(sql, actorOf(c, deps), request.keep_own) });
    },
    'GET /sessions': async (c) => {
      const query = parseQuery(c, apiRoutes['GET /sessions'].query);
      return c.json(await listSessions(sql, principalOf(c), query, live.onlineSessionIds(), sessionPolicy));
    },
    'DELETE /sessions/:id': async (c) => {
      await revokeSession(sql, actorOf(c, deps), uuidParam(c));
      return c.body(null, 204);
    },
    'GET /api-keys': async (c) => c.json({ items: await listApiKeys(sql, principalOf(c)) }),
    'POST /api-keys': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /api-keys'].body);
      return c.json(await createApiKey(sql, actorOf(c, deps), request), 201);
    },
    'DELETE /api-keys/:id': async (c) => {
      await revokeApiKey(sql, actorOf(c, deps), uuidParam(c));
      return c.body(null, 204);
    },
    'GET /users/:id/usage': async (c) => {
      const id = uuidParam(c);
      const principal = principalOf(c);
      if (principal.user?.id !== id && !can(principal.role, 'users.read')) throw new AppError('forbidden', 'You can see only your own usage');
      return c.json(await userUsage(sql, id, deps.clock(), config.USAGE_PRICES));
    },
    'POST /usage': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /usage'].body);
      const result = await reportUsage(sql, actorOf(c, deps), request, deps.clock());
      return c.json(result, result.recorded ? 201 : 200);
    },
    'GET /usage/check': async (c) => {
      const query = parseQuery(c, apiRoutes['GET /usage/check'].query);
      return c.json(await checkUsage(sql, query.user_id, query.meter, query.amount, deps.clock()));
    },
    'GET /projects': async (c) => {
      const query = parseQuery(c, apiRoutes['GET /projects'].query);
      return c.json(await listProjects(sql, viewerOf(c), { userId: query.user_id }));
    },
    'POST /projects': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /projects'].body);
      return c.json({ project: await createProject(sql, actorOf(c, deps), request) }, 201);
    },
    'GET /projects/:id': async (c) => c.json({ project: await getProject(sql, viewerOf(c), uuidParam(c)) }),
    'PATCH /projects/:id': async (c) => {
      const id = uuidParam(c);
      const request = await parseBody(c, apiRoutes['PATCH /projects/:id'].body);
      return c.json({ project: await updateProject(sql, actorOf(c, deps), id, request) });
    },
    'DELETE /projects/:id': async (c) => {
      await deleteProject(sql, actorOf(c, deps), uuidParam(c));
      return c.body(null, 204);
    },
    'POST /projects/:id/members': async (c) => {
      const id = uuidParam(c);
      const { user_id } = await parseBody(c, apiRoutes['POST /projects/:id/members'].body);
      return c.json({ project: await setMembership(sql, actorOf(c, deps), id, user_id, true) });
    },
    'DELETE /projects/:id/members/:userId': async (c) => {
      const id = uuidParam(c);
      const userId = uuidParam(c, 'userId');
      return c.json({ project: await setMembership(sql, actorOf(c, deps), id, userId, false) });
    },
    'GET /stats/overview': async (c) => c.json(await overview(sql, deps.clock(), config.USAGE_PRICES)),
    'GET /applications': async (c) => c.json(await listApplications(sql)),
    'POST /applications': async (c) => {
      const request = await parseBody(c, apiRoutes['POST /applications'].body);
      return c.json(await createApplication(sql, actorOf(c, deps), request), 201);
    },
    'PATCH /applications/:id': async (c) => {
      const id = uuidParam(c);
      const request = await parseBody(c, apiRoutes['PATCH /applications/:id'].body);
      return c.json({ application: await updateApplication(sql, actorOf(c, deps), id, request) });
    },
    'POST /applications/:id/secret': async (c) => c.json(await rotateApplicationSecret(sql, actorOf(c, deps), uuidParam(c))),
    'DELETE /applications/:id': async (c) => {
      await deleteApplication(sql, actorOf(c, deps), uuidParam(c));
      return c.body(null, 204);
    },
    'GET /users/:id/applications': async (c) => c.json(await userApplications(sql, uuidParam(c))),
    'DELETE /users/:id/applications/:applicationId': async (c) => {
      await signOutOfApplication(sql, actorOf(c, deps), uuidParam(c, 'applicationId'), { userId: uuidParam(c) });
      return c.body(null, 204);
    },
    'DELETE /sessions/:id/applications/:applicationId': async (c) => {
      await signOutOfApplication(sql, actorOf(c, deps), uuidParam(c, 'applicationId'), { sessionId: uuidParam(c) });
      return c.body(null, 204);
    },
    'GET /authorizations/:uid': async (c) => c.json(await authorizationDetails(deps.oidc.current, sql, interactionUid(c), accountOf(c))),
    'POST /authorizations/:uid': async (c) => {
      const uid = interactionUid(c);
      const { allow } = await parseBody(c, apiRoutes['POST /authorizations/:uid'].body);
      return c.json(await decideAuthorization(deps.oidc.current, sql, uid, actorOf(c, deps), accountOf(c), principalOf(c).session!, allow));
    },
    'GET /auth/verify': async (c) => {
      const { redirect } = parseQuery(c, apiRoutes['GET /auth/verify'].query);
      const host = c.req.header('x-forwarded-host');
      const verdict = await verifyForwardAuth(sql, c.get('principal'), host);
      if ('user' in verdict) {
        const { user } = verdict;
        c.header('X-Roster-User', user.id);
        c.header('X-Roster-Username', user.username);
        c.header('X-Roster-Email', user.email);
        c.header('X-Roster-Roles', user.role);
        return c.json({ user: { id: user.id, username: user.username, email: user.email, role: user.role } });
      }
      if (redirect && verdict.refused === 'unauthenticated') {
        const back = `${c.req.header('x-forwarded-proto') ?? 'https'}://${host}${c.req.header('x-forwarded-uri') ?? '/'}`;
        return c.redirect(`${deps.origins[0]}/login?return_to=${encodeURIComponent(back)}`, 302);
      }
      throw new AppError(verdict.refused, verdict.message);
    },
    'GET /auth/return-to': async (c) => c.json({ url: await returnTo(sql, parseQuery(c, apiRoutes['GET /auth/return-to'].query).url) }),
    'GET /events': async (c) => c.json(await listEvents(sql, parseQuery(c, apiRoutes['GET /events'].query))),
  };
}
