import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Sql } from 'postgres';
import { createApp } from './app.ts';
import { verifyAgainstDummy } from './auth/passwords.ts';
import { SessionCookie, sessionPolicy } from './auth/sessions.ts';
import { twoFactorPolicy } from './auth/two-factor-policy.ts';
import { allowedOrigins, type Config } from './config.ts';
import { DatabaseWatch } from './database-watch.ts';
import { ConnectionDrain } from './drain.ts';
import type { Deps } from './http/context.ts';
import { startHousekeeping } from './live/housekeeping.ts';
import { LiveHub } from './live/hub.ts';
import { LogoutDelivery } from './oidc/logout.ts';
import { OpenIdProvider } from './oidc/provider.ts';
import type { Logger } from './logger.ts';
import { createMailer, defaultSender } from './mail/transport.ts';
import { recordMailFailure } from './services/mail.ts';
import { retentionPolicy } from './services/retention.ts';

// How long a stopping server waits for the requests it was sent: with the rest of the shutdown,
// within the 10 s Docker grants between SIGTERM and SIGKILL.
const DRAIN_TIMEOUT_MS = 8000;

export interface RunningServer {
  url: string;
  port: number;
  origins: string[];
  live: LiveHub;
  /** Whether mails go to a mail server (SMTP_URL) rather than the log. */
  mailConfigured: boolean;
  close(): Promise<void>;
}

/** Serves the API, the live channel and (given `webRoot`) the console on one port. */
export async function startServer(options: {
  config: Config;
  sql: Sql;
  /** The same database as `sql`, for the Socket.IO adapter's own connections. */
  databaseUrl: string;
  log: Logger;
  webRoot?: string;
  clock?: () => Date;
}): Promise<RunningServer> {
  const { config, sql, log } = options;
  const httpServer: HttpServer = createServer();
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.PORT, config.HOST, resolve);
  });
  // The default allowed origin is the server's own URL, so it is known only once the port is.
  const port = (httpServer.address() as AddressInfo).port;
  const origins = allowedOrigins(config, port);
  // Socket.IO wraps the request listeners present when it attaches and claims /socket.io for itself,
  // so the app's listener must exist first; the app itself needs the hub, hence the late binding.
  let handleRequest: ReturnType<typeof getRequestListener> | undefined;
  httpServer.on('request', (req, res) => void handleRequest!(req, res));
  const database = new DatabaseWatch(options.databaseUrl, log);
  database.start();
  const publicOrigin = origins[0]!;
  const secure = publicOrigin.startsWith('https:');
  const cookies = { secure, domain: config.ROSTER_COOKIE_DOMAIN, session: new SessionCookie(secure, config.ROSTER_COOKIE_DOMAIN) };
  const live = new LiveHub(httpServer, {
    sql,
    database,
    databaseUrl: options.databaseUrl,
    log,
    origins,
    sessionPolicy: sessionPolicy(config),
    sessionCookie: cookies.session,
    twoFactorPolicy: twoFactorPolicy(config),
  });
  const drain = new ConnectionDrain(httpServer, log, '/socket.io/');
  const oidc = await OpenIdProvider.start({ sql, origin: publicOrigin, sessionPolicy: sessionPolicy(config), trustProxy: config.TRUST_PROXY, log });
  const logouts = new LogoutDelivery(sql, log, oidc.issuer);
  const mailer = createMailer({
    smtpUrl: config.SMTP_URL,
    from: config.MAIL_FROM ?? defaultSender(publicOrigin),
    log,
    onFailure: (mail, error) => void recordMailFailure(sql, mail, error).catch((err: unknown) => log.error({ err }, 'a mail failure could not be recorded')),
  });
  const deps: Deps = {
    ...options,
    database,
    origins,
    cookies,
    oidc,
    live,
    clock: options.clock ?? (() => new Date()),
    sessionPolicy: sessionPolicy(config),
    twoFactorPolicy: twoFactorPolicy(config),
    signInLimits: {
      perLogin: config.LOGIN_MAX_FAILURES,
      perIp: config.LOGIN_MAX_FAILURES_PER_IP,
      registrationsPerIp: config.REGISTRATION_MAX_PER_IP,
      windowMs: config.LOGIN_WINDOW_MINUTES * 60 * 1000,
    },
    mail: { mailer, origin: publicOrigin, resetMinutes: config.PASSWORD_RESET_MINUTES },
    resetLimits: { perAddress: config.PASSWORD_RESET_MAX_PER_ADDRESS, perIp: config.PASSWORD_RESET_MAX_PER_IP },
  };
  handleRequest = getRequestListener(createApp(deps).fetch);
  await live.start();
  await logouts.start();
  const housekeeping = startHousekeeping({ sql, log, policy: retentionPolicy(config) });
  await verifyAgainstDummy(''); // compute the timing-equaliser hash now, not during the first sign-in

  return {
    url: `http://localhost:${port}`,
    port,
    origins,
    live,
    mailConfigured: mailer.configured,
    /** Answers every request already sent, then closes the live channel's sockets and the HTTP server. */
    close: async () => {
      await drain.drain(DRAIN_TIMEOUT_MS);
      await housekeeping.stop();
      await logouts.stop();
      await oidc.stop();
      await live.close();
      mailer.close();
      await database.stop();
    },
  };
}
