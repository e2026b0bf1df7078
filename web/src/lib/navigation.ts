import type { Capability } from '@roster/shared';

export interface Section {
  href: string;
  label: string;
  /** What a role needs to open it; none: everyone signed in. */
  capability?: Capability;
}

/** The console's pages in the order of the main navigation, each with what it takes to open it. */
export const sections: readonly Section[] = [
  { href: '/users', label: 'Users', capability: 'users.read' },
  { href: '/invitations', label: 'Invitations', capability: 'users.write' },
  { href: '/projects', label: 'Projects' },
  { href: '/stats', label: 'Statistics', capability: 'users.read' },
  { href: '/sessions', label: 'Sessions', capability: 'sessions.all' },
  { href: '/applications', label: 'Applications', capability: 'system.manage' },
  { href: '/audit', label: 'Audit log', capability: 'audit.read' },
  { href: '/account', label: 'Account' },
];

export function sectionOf(pathname: string): Section | undefined {
  return sections.find((s) => pathname === s.href || pathname.startsWith(`${s.href}/`));
}

/**
 * Where sign-in goes on to: a path of this console, never another site (`//evil.example` and
 * `/\evil.example` are read by browsers as other hosts), and never back to sign-in itself.
 */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || next.startsWith('/login')) return '/';
  return next;
}

/** The sign-in page, remembering where the person was going. */
export function signInUrl(url: URL, reason?: string): string {
  const params = new URLSearchParams();
  if (reason) params.set('reason', reason);
  const here = url.pathname + url.search;
  if (here !== '/') params.set('next', here);
  return `/login${params.size ? `?${params}` : ''}`;
}
