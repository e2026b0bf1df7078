import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Sql } from 'postgres';
import { createApp } from './app.ts';
import { verifyAgainstDummy } from './auth/passwords.ts';
import { allowedOrigins, type Config } from './config.ts';
import type { Deps } from './http/context.ts';
import { createLiveServer } from './live/index.ts';
import type { Logger } from './logger.ts';

export interface RunningServer {
  url: string;
  port: number;
  origins: string[];
  close(): Promise<void>;
}

/** Serves the API, the live channel and (given `webRoot`) the console on one port. */
export async function startServer(options: {
  config: Config;
  sql: Sql;
  log: Logger;
  webRoot?: string;
}): Promise<RunningServer> {
  const { config } = options;
  const httpServer: HttpServer = createServer();
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.PORT, config.HOST, resolve);
  });
  // The default allowed origin is the server's own URL, so it is known only once the port is.
  const port = (httpServer.address() as AddressInfo).port;
  const origins = allowedOrigins(config, port);
  const deps: Deps = {
    ...options,
    origins,
    secureCookies: origins[0]!.startsWith('https:'),
  };
  httpServer.on('request', getRequestListener(createApp(deps).fetch));
  const io = createLiveServer(httpServer, deps);
  await verifyAgainstDummy(''); // compute the timing-equaliser hash now, not during the first sign-in

  return {
    url: `http://localhost:${port}`,
    port,
    origins,
    close: async () => {
      httpServer.closeIdleConnections();
      await io.close(); // also closes the HTTP server
    },
  };
}
