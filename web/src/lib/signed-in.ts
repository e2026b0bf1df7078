const KEY = 'roster.signed-in';

/**
 * Whether this browser signed in and has not signed out since. The session cookie is HttpOnly, so
 * the console cannot see it; with this hint a refused session reads as "your session ended" rather
 * than as a first visit, and the sign-in page knows when to check whether it can go straight on.
 */
export const signedInHint = {
  get: (): boolean => localStorage.getItem(KEY) === '1',
  set: (): void => localStorage.setItem(KEY, '1'),
  clear: (): void => localStorage.removeItem(KEY),
};
