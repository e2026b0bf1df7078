import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Context } from 'hono';
import { DEVICE_COOKIE, DEVICE_LIFETIME_MS } from '../auth/devices.ts';
import { PENDING_LOGIN_COOKIE } from '../auth/pending-logins.ts';
import type { SessionCookie } from '../auth/sessions.ts';
import type { BrowserCookies, SignedIn } from '../services/auth.ts';

export function readSessionCookie(c: Context, cookies: CookieSettings): string | undefined {
  return cookies.session.tokenIn(c.req.header('cookie'));
}

/** What a sign-in needs from the browser: the session it replaces and its device token. */
export function browserCookies(c: Context, cookies: CookieSettings): BrowserCookies {
  return { session: readSessionCookie(c, cookies), device: getCookie(c, DEVICE_COOKIE) };
}

/**
 * How the session cookie is set: `Secure` when Roster is served over HTTPS; on a parent domain
 * (ROSTER_COOKIE_DOMAIN) when applications behind a proxy on sibling hosts rely on it.
 */
export interface CookieSettings {
  secure: boolean;
  domain?: string;
  session: SessionCookie;
}

export function writeSessionCookie(c: Context, token: string, expiresAt: Date, cookies: CookieSettings): void {
  setCookie(c, cookies.session.name, token, { httpOnly: true, sameSite: 'Lax', path: '/', secure: cookies.secure, domain: cookies.domain, expires: expiresAt });
}

/** After a sign-in: the session, and the device cookie that only the sign-in route ever reads. */
export function writeSignedIn(c: Context, signedIn: SignedIn, cookies: CookieSettings): void {
  writeSessionCookie(c, signedIn.token, signedIn.session.expires_at, cookies);
  setCookie(c, DEVICE_COOKIE, signedIn.deviceToken, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/api/v1/auth',
    secure: cookies.secure,
    maxAge: DEVICE_LIFETIME_MS / 1000,
  });
}

export function clearSessionCookie(c: Context, cookies: CookieSettings): void {
  deleteCookie(c, cookies.session.name, { httpOnly: true, sameSite: 'Lax', path: '/', secure: cookies.secure, domain: cookies.domain });
}

/**
 * A sign-in awaiting its second factor: a cookie of its own, sent only to the sign-in routes and
 * never read as a session, so a browser that holds it is signed out everywhere else.
 */
export function writePendingLogin(c: Context, token: string, expiresAt: Date, cookies: CookieSettings): void {
  setCookie(c, PENDING_LOGIN_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/api/v1/auth', secure: cookies.secure, expires: expiresAt });
}

export function readPendingLogin(c: Context): string | undefined {
  return getCookie(c, PENDING_LOGIN_COOKIE);
}

export function clearPendingLogin(c: Context, cookies: CookieSettings): void {
  deleteCookie(c, PENDING_LOGIN_COOKIE, { httpOnly: true, sameSite: 'Strict', path: '/api/v1/auth', secure: cookies.secure });
}
