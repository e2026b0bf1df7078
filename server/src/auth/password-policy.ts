import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../errors.ts';

// The 10,000 most common passwords, from zxcvbn-ts's frequency-ordered list (shipped with the
// package, never fetched). Compared case-insensitively.
const COMMON_PASSWORDS = new Set(dictionary['passwords-common'].slice(0, 10_000).map((p) => p.toLowerCase()));

/** Who the password belongs to, so it can be refused for containing their name or address. */
export interface PasswordOwner {
  username?: unknown;
  email?: unknown;
}

/** What is wrong with a password beyond the shared schema's shape, or null. */
export function passwordProblem(password: unknown, minLength: number, owner: PasswordOwner = {}): string | null {
  if (typeof password !== 'string') return null; // the schema reports the type
  if (password.length < minLength) return `Password must be at least ${minLength} characters`;
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower)) return 'This password is one of the most common ones; choose another';
  const identities = [owner.username, typeof owner.email === 'string' ? owner.email.split('@')[0] : undefined, owner.email];
  for (const identity of identities) {
    if (typeof identity === 'string' && identity.length >= 3 && lower.includes(identity.toLowerCase())) {
      return 'Password must not contain the username or email';
    }
  }
  return null;
}

/** Enforces the policy; `field` names the form field the message belongs under. */
export function checkPasswordPolicy(password: string, minLength: number, owner: PasswordOwner = {}, field = 'password'): void {
  const problem = passwordProblem(password, minLength, owner);
  if (problem) throw new AppError('validation_failed', 'Some fields are invalid', { [field]: problem });
}
