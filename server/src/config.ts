import { z } from 'zod';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const originList = z
  .string()
  .transform((v) => v.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean))
  .pipe(z.array(z.url({ protocol: /^https?$/ })).min(1));

export const DEFAULT_DATABASE_POOL_SIZE = 10;

/** Every environment variable Roster reads, with its default. docs/operations.md's configuration table mirrors this. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** Connections for requests, per process (docs/operations.md: PostgreSQL's own limit is shared by every process). */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(DEFAULT_DATABASE_POOL_SIZE),
  ROSTER_DATA_DIR: z.string().min(1).default('./.roster'),
  ROSTER_ORIGIN: originList.optional(),
  /** A session unused this long ends (docs/security.md explains the defaults against NIST SP 800-63B). */
  /**
   * A parent domain for the session cookie (`example.com`), so that a reverse proxy in front of
   * applications on sibling hosts can ask Roster about it (forward authentication).
   */
  ROSTER_COOKIE_DOMAIN: z.string().trim().toLowerCase().regex(/^\.?[a-z0-9.-]+$/, 'must be a domain such as example.com').optional(),
  SESSION_IDLE_MINUTES: z.coerce.number().int().positive().default(7 * 24 * 60),
  /** Absolute session lifetime from sign-in; fractions allowed (0.5 = 12 hours). */
  SESSION_MAX_DAYS: z.coerce.number().positive().max(366).default(30),
  /** Sessions one user may hold at once; one more sign-in ends the least recently used. */
  SESSION_MAX_PER_USER: z.coerce.number().int().min(1).max(1000).default(10),
  /** How recent a password confirmation must be for sensitive changes to one's own account. */
  REAUTH_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(10),
  /** Admins and moderators must sign in with two factors (docs/security.md, "Two-factor sign-in"). */
  REQUIRE_2FA_FOR_STAFF: flag.default(false),
  /** Days staff may go on without it, from their first request once it is required of them; fractions allowed, 0: at once. */
  REQUIRE_2FA_GRACE_DAYS: z.coerce.number().min(0).max(365).default(7),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(1).max(256).default(8),
  ALLOW_REGISTRATION: flag.default(false),
  ENABLE_PUBLIC_SHARING: flag.default(false),
  LOGIN_MAX_FAILURES: z.coerce.number().int().positive().default(10),
  LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().positive().default(50),
  LOGIN_WINDOW_MINUTES: z.coerce.number().int().positive().default(15),
  /** Registration attempts per IP within the login window (ALLOW_REGISTRATION). */
  REGISTRATION_MAX_PER_IP: z.coerce.number().int().positive().default(10),
  /**
   * The mail server, `smtp://user:password@host:587` (STARTTLS when offered) or `smtps://…:465`
   * (TLS from the start). Unset: mails are written to the server's log instead.
   */
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional(),
  /** The sender of Roster's mails, `Roster <roster@example.com>`; by default noreply@ the public URL's host. */
  MAIL_FROM: z.string().trim().max(300).regex(/@/, 'must be an address such as roster@example.com or "Roster <roster@example.com>"').optional(),
  /** How long a password reset link works. */
  PASSWORD_RESET_MINUTES: z.coerce.number().int().min(5).max(24 * 60).default(60),
  /** Reset mails one address may be sent per hour ("Forgot your password?"). */
  PASSWORD_RESET_MAX_PER_ADDRESS: z.coerce.number().int().positive().default(3),
  /** Reset requests one client IP may make per hour, whatever the addresses. */
  PASSWORD_RESET_MAX_PER_IP: z.coerce.number().int().positive().default(20),
  TRUST_PROXY: flag.default(false),
  // The statistics page counts the last 30 days of sign-ins from the audit log: never keep less.
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(30).default(400),
  /** USD per unit of usage, by source: `{"openai-whisper": 0.006}` is $0.006 per minute. */
  USAGE_PRICES: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object like {"openai-whisper": 0.006}' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), z.number().min(0)))
    .default({ 'openai-whisper': 0.006, 'self-hosted': 0 }),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof envSchema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' `FOO= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`Invalid configuration:\n${problems}`);
  }
  return parsed.data;
}

/** The origins allowed to make state-changing requests and open sockets; by default the server's own URL. */
export function allowedOrigins(config: Config, port: number): string[] {
  return config.ROSTER_ORIGIN ?? [`http://localhost:${port}`, `http://127.0.0.1:${port}`];
}
