import { parseArgs } from 'node:util';
import { z } from 'zod';
import { displayNameSchema, emailSchema, passwordSchema, usernameSchema } from '@roster/shared';
import { runMigrations } from '../../db/migrate.ts';
import { checkPasswordPolicy } from './auth/password-policy.ts';
import { findUserByLogin } from './data/users.ts';
import { AppError } from './errors.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { rotateSigningKey } from './oidc/keys.ts';
import { openDatabase } from './runtime.ts';
import { cliActor } from './services/events.ts';
import { applyRetention, retentionPolicy } from './services/retention.ts';
import { revokeEverySession } from './services/sessions.ts';
import { createUser } from './services/users/changes.ts';
import { listAllUsers } from './services/users/listing.ts';
import { resetPasswordByLogin } from './services/users/passwords.ts';
import { resetTwoFactor } from './services/two-factor/enrolment.ts';
import { twoFactorPolicy } from './auth/two-factor-policy.ts';

const usage = `Usage: npm run roster -- <command> [options]

Commands:
  create-admin   --username U --email E --password P [--display-name N]
  reset-password --login USERNAME_OR_EMAIL --password P     (temporary: the user chooses a new one at
                 sign-in; ends the user's sessions and API keys)
  reset-two-factor --login USERNAME_OR_EMAIL   remove the user's second factor (a lost phone, no admin
                 able to sign in to do it); ends their sessions
  sign-out-everyone --yes   end every session of every user now (after a breach; audited, live)
  list-users
  migrate        apply pending database migrations
  prune-audit    apply the retention now (AUDIT_RETENTION_DAYS), as every server does hourly
  rotate-signing-key  a new key signs ID and logout tokens from now on, on every running node; the
                 old one stays published for a day, so tokens it signed still verify

Uses DATABASE_URL, or the embedded PostgreSQL in ROSTER_DATA_DIR (a running Roster's, if it is up).`;

async function main(argv: string[]) {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      username: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      'display-name': { type: 'string' },
      login: { type: 'string' },
      yes: { type: 'boolean' },
    },
    strict: true,
  });
  if (!command || !['create-admin', 'reset-password', 'reset-two-factor', 'sign-out-everyone', 'list-users', 'migrate', 'prune-audit', 'rotate-signing-key'].includes(command)) {
    process.stderr.write(usage + '\n');
    return 2;
  }

  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  // `migrate` applies migrations itself, to report them; every other command needs the schema current first.
  const database = await openDatabase(config, log, { migrate: command !== 'migrate' });
  try {
    switch (command) {
      case 'create-admin': {
        const input = z
          .object({
            username: usernameSchema,
            email: emailSchema,
            password: passwordSchema,
            display_name: displayNameSchema,
          })
          .parse({ ...values, display_name: values['display-name'] ?? values.username });
        checkPasswordPolicy(input.password, config.PASSWORD_MIN_LENGTH, input);
        const user = await createUser(database.sql, cliActor, { ...input, role: 'admin' });
        process.stdout.write(`Created admin ${user.username} <${user.email}> (${user.id})\n`);
        return 0;
      }
      case 'reset-password': {
        const input = z
          .object({ login: z.string().min(1), password: passwordSchema })
          .parse(values);
        const owner = await findUserByLogin(database.sql, input.login);
        checkPasswordPolicy(input.password, config.PASSWORD_MIN_LENGTH, owner);
        const user = await resetPasswordByLogin(database.sql, cliActor, input.login, input.password);
        process.stdout.write(`Password of ${user.username} reset; their sessions and API keys were ended. It works for one sign-in, then they choose their own\n`);
        return 0;
      }
      case 'reset-two-factor': {
        const { login } = z.object({ login: z.string().min(1) }).parse(values);
        const owner = await findUserByLogin(database.sql, login);
        if (!owner) throw new AppError('not_found', `No user with username or email "${login}"`);
        const user = await resetTwoFactor(database.sql, cliActor, owner.id, twoFactorPolicy(config));
        process.stdout.write(`Two-factor sign-in of ${user.username} removed; their sessions were ended. They sign in with their password and set it up again\n`);
        return 0;
      }
      case 'sign-out-everyone': {
        if (!values.yes) {
          process.stderr.write('This ends every session of every user. Run it again with --yes to do it.\n');
          return 1;
        }
        const ended = await revokeEverySession(database.sql, cliActor, false);
        process.stdout.write(`Ended ${ended} session${ended === 1 ? '' : 's'}; everyone signs in again\n`);
        return 0;
      }
      case 'list-users': {
        for (const user of await listAllUsers(database.sql)) {
          process.stdout.write(`${user.username}\t${user.email}\t${user.role}\t${user.status}\t${user.id}\n`);
        }
        return 0;
      }
      case 'prune-audit': {
        const policy = retentionPolicy(config);
        const removed = await applyRetention(database.sql, policy);
        if (!removed) {
          process.stderr.write('Another Roster process is running the retention now; nothing was removed. Try again later.\n');
          return 1;
        }
        process.stdout.write(
          `Removed ${removed.events} audit events older than ${policy.auditDays} days, ${removed.sessions} expired sessions, ` +
            `${removed.rateLimitHits} counted sign-in attempts past their window\n`,
        );
        return 0;
      }
      case 'rotate-signing-key': {
        const kid = await rotateSigningKey(database.sql);
        process.stdout.write(`New signing key ${kid}; running servers sign with it now. The previous key stays published for a day.\n`);
        return 0;
      }
      default: {
        const applied = await runMigrations(database.sql);
        process.stdout.write(applied.length ? `Applied ${applied.join(', ')}\n` : 'The database is up to date\n');
        return 0;
      }
    }
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message =
      error instanceof z.ZodError
        ? error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')
        : error instanceof AppError && error.code === 'validation_failed' && error.fields
          ? Object.entries(error.fields).map(([field, message]) => `${field}: ${message}`).join('\n')
          : error instanceof Error
          ? error.message
          : String(error);
    process.stderr.write(`${message}\n`);
    process.exit(1);
  },
);
