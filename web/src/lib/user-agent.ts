import Bowser from 'bowser';

/** "Chrome 126 on macOS" from a user-agent header. */
export function describeAgent(userAgent: string | null): string {
  if (!userAgent) return 'Unknown client';
  const parsed = Bowser.parse(userAgent);
  const browser = [parsed.browser.name, parsed.browser.version?.split('.')[0]].filter(Boolean).join(' ');
  const os = parsed.os.name;
  if (!browser) return userAgent.split(' ')[0] ?? 'Unknown client';
  return os ? `${browser} on ${os}` : browser;
}
