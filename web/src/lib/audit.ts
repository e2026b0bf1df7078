import type { EventAction, LiveEvent, SessionEndReason } from '@roster/shared';
import { plural } from './format';

/** What each action is called where people choose it (the audit log's filter). */
export const actionLabels: Record<EventAction, string> = {
  'user.created': 'User created',
  'user.updated': 'User updated',
  'user.deleted': 'User deleted',
  'user.password_reset': 'Password set',
  'invitation.created': 'Invitation sent',
  'invitation.resent': 'Invitation resent',
  'invitation.revoked': 'Invitation revoked',
  'invitation.accepted': 'Invitation accepted',
  'password_reset.requested': 'Password reset link sent',
  'mail.failed': 'Mail not sent',
  'users.imported': 'Users imported',
  'session.created': 'Signed in',
  'session.revoked': 'Session ended',
  'session.revoked_all': 'Everyone signed out',
  'session.rotated': 'Password confirmed',
  'api_key.created': 'API key created',
  'api_key.revoked': 'API key revoked',
  'auth.login_failed': 'Sign-in failed',
  'project.created': 'Project created',
  'project.updated': 'Project updated',
  'project.deleted': 'Project deleted',
  'usage.recorded': 'Usage reported',
  'application.created': 'Application registered',
  'application.updated': 'Application changed',
  'application.deleted': 'Application removed',
  'application.secret_rotated': 'Application secret replaced',
  'application.signed_in': 'Signed in to an application',
  'application.signed_out': 'Signed out of an application',
  'auth.second_factor_failed': 'Wrong sign-in code',
  'auth.recovery_code_used': 'Recovery code used',
  'user.two_factor_enabled': 'Two-factor sign-in turned on',
  'user.two_factor_disabled': 'Two-factor sign-in turned off',
  'user.two_factor_reset': 'Two-factor sign-in reset',
  'user.recovery_codes_regenerated': 'New recovery codes',
};

/** Why a session ended, as the log says it after the sentence. */
const endReasons: Partial<Record<SessionEndReason, string>> = {
  replaced: 'replaced by a newer sign-in',
  expired: 'expired',
  deactivated: 'the account was deactivated',
  deleted: 'the account was deleted',
  password_reset: 'the password was reset',
  password_changed: 'the password was changed',
  two_factor_reset: 'an administrator reset their two-factor sign-in',
};

/**
 * One audit entry as a sentence: the actor (rendered before it), `verb`, then the target when it
 * names one, then `after`. The target is left out where the sentence already says who it is.
 */
export interface AuditSentence {
  verb: string;
  target: boolean;
  after?: string;
  note?: string;
}

const counted = new Intl.NumberFormat();

export function describeEvent(event: LiveEvent): AuditSentence {
  switch (event.action) {
    case 'user.created':
      return { verb: 'created the user', target: true };
    case 'user.updated':
      return { verb: 'updated the user', target: true };
    case 'user.deleted':
      return { verb: 'deleted the user', target: true };
    case 'user.password_reset': {
      const { by_self, revoke_credentials, revoke_sessions, via_link } = event.data;
      if (via_link) return { verb: 'chose a new password with a reset link', target: false, note: 'and was signed out everywhere else' };
      return by_self
        ? { verb: 'changed their password', target: false, note: revoke_credentials ? 'and revoked their API keys' : undefined }
        : { verb: 'set a new password for', target: true, note: revoke_sessions ? 'and signed them out everywhere' : undefined };
    }
    case 'invitation.created':
      return { verb: 'invited', target: true, note: event.data.invitation.email };
    case 'invitation.resent':
      return { verb: 'sent a new invitation link to', target: true };
    case 'invitation.revoked':
      return { verb: 'revoked the invitation of', target: true };
    case 'invitation.accepted':
      return { verb: 'accepted their invitation', target: false };
    case 'password_reset.requested':
      return event.data.by_admin
        ? { verb: 'sent a password reset link to', target: true }
        : { verb: 'asked for a password reset link for', target: true, note: 'on the sign-in page' };
    case 'mail.failed': {
      const what = { invitation: 'an invitation', password_reset: 'a password reset link', password_changed: 'a password-changed notice', new_sign_in: 'a new sign-in notice', account_changed: 'an account-changed notice', failed_sign_ins: 'a failed sign-ins notice' }[event.data.template];
      return { verb: `could not send ${what} to`, target: true, note: event.data.error };
    }
    case 'users.imported': {
      const { counts, mode, rows } = event.data;
      const parts = [
        `${counted.format(counts.created)} created`,
        mode === 'update' ? `${counted.format(counts.updated)} updated` : null,
        counts.skipped ? `${counted.format(counts.skipped)} skipped` : null,
        counts.failed ? `${counted.format(counts.failed)} failed` : null,
      ].filter(Boolean);
      return { verb: `imported ${plural(rows, 'row')} of a CSV file`, target: false, note: parts.join(', ') };
    }
    case 'session.created':
      return { verb: 'signed in', target: false };
    case 'session.revoked': {
      const { reason } = event.data;
      if (reason === 'logout') return { verb: 'signed out', target: false };
      return { verb: 'ended a session of', target: true, note: endReasons[reason] };
    }
    case 'session.revoked_all':
      return { verb: 'signed everyone out', target: false, note: `${plural(event.data.count, 'session')} ended` };
    case 'session.rotated':
      return event.data.reason === 'password_changed'
        ? { verb: 'got a new session token', target: false, note: 'after changing their password' }
        : { verb: 'confirmed their password', target: false };
    case 'api_key.created':
      return { verb: 'created the API key', target: true };
    case 'api_key.revoked':
      return { verb: 'revoked the API key', target: true };
    case 'auth.login_failed':
      return { verb: 'failed to sign in', target: false };
    case 'project.created':
      return { verb: 'created the project', target: true };
    case 'project.updated': {
      const changed = event.data.changes ?? [];
      if (changed.length === 1 && changed[0] === 'members') return { verb: 'changed who is assigned to the project', target: true };
      return { verb: 'updated the project', target: true, note: changed.length > 0 ? `${changed.map((c) => c.replace(/_/g, ' ')).join(', ')}` : undefined };
    }
    case 'project.deleted':
      return { verb: 'deleted the project', target: true };
    case 'usage.recorded': {
      const { meter, amount, source } = event.data;
      const unit = meter === 'minutes' ? (amount === 1 ? 'minute' : 'minutes') : amount === 1 ? 'token' : 'tokens';
      return { verb: `reported ${counted.format(amount)} ${unit} for`, target: true, note: source ? `from ${source}` : undefined };
    }
    case 'application.created':
      return { verb: 'registered the application', target: true };
    case 'application.updated': {
      const { changes: changed, application } = event.data;
      if (changed.length === 1 && changed[0] === 'enabled') return { verb: application.enabled ? 'enabled the application' : 'disabled the application', target: true };
      return { verb: 'changed the application', target: true, note: changed.length > 0 ? changed.map((c) => c.replace(/_/g, ' ')).join(', ') : undefined };
    }
    case 'application.deleted':
      return { verb: 'removed the application', target: true };
    case 'application.secret_rotated':
      return { verb: 'replaced the secret of the application', target: true };
    case 'application.signed_in':
      return { verb: 'signed in to', target: true };
    case 'application.signed_out':
      return { verb: `signed @${event.data.username} out of`, target: true, note: event.data.session_id ? 'in one session' : 'in every session' };
    case 'auth.second_factor_failed':
      return { verb: 'typed a wrong sign-in code', target: false, note: event.data.method === 'recovery_code' ? 'a recovery code' : 'from the authenticator app' };
    case 'auth.recovery_code_used': {
      const { remaining } = event.data;
      return { verb: 'signed in with a recovery code', target: false, note: `${remaining} left` };
    }
    case 'user.two_factor_enabled':
      return { verb: event.data.replaced ? 'replaced their authenticator app' : 'turned on two-factor sign-in', target: false };
    case 'user.two_factor_disabled':
      return { verb: 'turned off two-factor sign-in', target: false };
    case 'user.two_factor_reset': {
      const ended = event.data.sessions_ended;
      return { verb: 'reset the two-factor sign-in of', target: true, note: ended > 0 ? `${plural(ended, 'session')} ended` : undefined };
    }
    case 'user.recovery_codes_regenerated':
      return { verb: 'made new recovery codes', target: false };
    default:
      // An action this console does not know yet (the server is newer).
      return { verb: 'did something to', target: true };
  }
}

/** A changed field's value as a person reads it. */
export function changeValue(value: unknown): string {
  if (value === null || value === undefined || value === '') return 'none';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number') return counted.format(value);
  return String(value);
}
