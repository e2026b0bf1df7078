import { z } from 'zod';
import { apiRoutes, errorBodySchema, type RouteSpec } from '@roster/shared';

/** The OpenAPI 3.1 document, generated from the same route table and zod schemas the server validates with. */
export function openApiDocument(serverUrl: string, sessionCookie: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, route] of Object.entries(apiRoutes) as [string, RouteSpec][]) {
    const [method, path] = key.split(' ') as [string, string];
    const openApiPath = '/api/v1' + path.replace(/:(\w+)/g, '{$1}');
    const parameters = [...path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (route.query) {
      const schema = z.toJSONSchema(route.query, { io: 'input', unrepresentable: 'any' }) as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        parameters.push({ name, in: 'query', required: schema.required?.includes(name) ?? false, schema: property as never });
      }
    }
    const status = String(route.status ?? 200);
    paths[openApiPath] ??= {};
    paths[openApiPath][method.toLowerCase()] = {
      summary: route.summary,
      'x-roster-access': route.access,
      parameters,
      ...(route.body && {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: z.toJSONSchema(route.body, { io: 'input', unrepresentable: 'any' }) } },
        },
      }),
      responses: {
        [status]: {
          description: 'Success',
          ...(route.response && {
            content: { 'application/json': { schema: z.toJSONSchema(route.response, { io: 'output', unrepresentable: 'any' }) } },
          }),
          ...('produces' in route && { content: { [route.produces]: { schema: { type: 'string' } } } }),
        },
        default: {
          description: 'Error',
          content: { 'application/json': { schema: z.toJSONSchema(errorBodySchema, { unrepresentable: 'any' }) } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Roster API',
      version: '1',
      description:
        `Browser sessions use the ${sessionCookie} cookie and must send an allowed Origin on state-changing requests; ` +
        'programs use Authorization: Bearer <API key> with the permissions of the key\'s owner (system keys: admin). ' +
        'x-roster-access names who may call each route.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: sessionCookie },
        apiKey: { type: 'http', scheme: 'bearer' },
      },
    },
    security: [{ session: [] }, { apiKey: [] }],
    paths,
  };
}
