import type { Sql } from 'postgres';
import type { User } from '@roster/shared';
import type { Principal } from '../auth/principal.ts';
import { AppError } from '../errors.ts';
import type { ApplicationRow } from '../oidc/clients.ts';
import { mayUseApplication } from './applications.ts';

// Forward authentication: a reverse proxy asks, for every request to an application it serves,
// whether the browser's Roster session may reach it. The session is read from the database on
// every call (no cache), so a deactivation or sign-out refuses the very next proxied request.

export type Verdict = { user: User } | { refused: 'unauthenticated' | 'forbidden'; message: string };

export async function verifyForwardAuth(sql: Sql, principal: Principal | null, host: string | undefined): Promise<Verdict> {
  const [app] = host ? await sql<ApplicationRow[]>`SELECT * FROM applications WHERE forward_auth_host = ${host.toLowerCase()}` : [];
  if (!app) return { refused: 'forbidden', message: `No application is registered for the host "${host ?? ''}"` };
  const user = principal?.kind === 'session' ? principal.user : null;
  if (!user || user.password_change_required) return { refused: 'unauthenticated', message: 'Sign in to Roster to continue' };
  if (!(await mayUseApplication(sql, app, user))) return { refused: 'forbidden', message: `You may not use ${app.name}` };
  return { user };
}

/** Where a browser may be sent after signing in for a proxied application: only to a registered, enabled host. */
export async function returnTo(sql: Sql, url: string): Promise<string> {
  const target = URL.parse(url);
  const invalid = () => new AppError('validation_failed', 'Some fields are invalid', { url: 'Not the address of a registered application' });
  // No user name or password in it either: `https://user:pass@app.example.com` is no address to send a browser to.
  if (!target || !['http:', 'https:'].includes(target.protocol) || target.username || target.password) throw invalid();
  const [app] = await sql`SELECT 1 FROM applications WHERE forward_auth_host = ${target.host.toLowerCase()} AND enabled`;
  if (!app) throw invalid();
  return target.href;
}
