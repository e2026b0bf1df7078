import { AppError } from '../http/errors.ts';

/** What is wrong with a password beyond the shared schema's shape (the configured minimum length), or null. */
export function passwordProblem(password: unknown, minLength: number): string | null {
  if (typeof password === 'string' && password.length < minLength) return `Password must be at least ${minLength} characters`;
  return null;
}

/** Enforces the policy; `field` names the form field the message belongs under. */
export function checkPasswordPolicy(password: string, minLength: number, field = 'password'): void {
  const problem = passwordProblem(password, minLength);
  if (problem) throw new AppError('validation_failed', 'Some fields are invalid', { [field]: problem });
}
