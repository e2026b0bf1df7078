import { z } from 'zod';
import { pageSeqSchema } from './schemas/common.ts';
import { roleSchema, userRefSchema } from './schemas.ts';

// Applications that sign people in through Roster: OpenID Connect clients, and hosts behind a
// reverse proxy that asks Roster on every request (forward authentication).

export const applicationAccess = ['everyone', 'roles', 'users'] as const;

/**
 * Where an application may send people back to: https anywhere, plain http only on this machine
 * (an application in development). No fragments, as OpenID Connect requires.
 */
const callbackUrl = z
  .url({ protocol: /^https?$/, error: 'Must be an http(s) URL' })
  .max(500, 'At most 500 characters')
  .refine((value) => {
    const url = new URL(value);
    return !url.hash && (url.protocol === 'https:' || ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
  }, 'Must be https, or http on localhost, without a #fragment');

/** A host name as a reverse proxy sends it in X-Forwarded-Host (optionally with a port). */
const forwardAuthHost = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/, 'Must be a host name such as app.example.com');

const applicationFields = {
  name: z.string().trim().min(1, 'Name is required').max(100, 'Name must be at most 100 characters'),
  redirect_uris: z.array(callbackUrl).max(20, 'At most 20 redirect URIs'),
  post_logout_redirect_uris: z.array(callbackUrl).max(20, 'At most 20 URIs'),
  /** Where Roster POSTs a signed logout token when someone's access ends (OpenID Connect Back-Channel Logout 1.0). */
  backchannel_logout_uri: z.url({ protocol: /^https?$/, error: 'Must be an http(s) URL' }).max(500).nullable(),
  /** The host a reverse proxy serves the application on, for forward authentication. */
  forward_auth_host: forwardAuthHost.nullable(),
  /** Who may sign in to it. */
  access: z.enum(applicationAccess),
  allowed_roles: z.array(roleSchema).max(3),
  /** With `access: users`: the users who may. */
  user_ids: z.array(z.uuid('Every user must be a user id')).max(1000),
  enabled: z.boolean(),
};

const { user_ids: _userIds, ...shownFields } = applicationFields;

export const applicationSchema = z.object({
  id: z.uuid(),
  client_id: z.string(),
  ...shownFields,
  /** With `access: users`: the users who may. */
  users: z.array(userRefSchema),
  version: z.number().int(),
  created_at: z.iso.datetime({ offset: true }),
  updated_at: z.iso.datetime({ offset: true }),
});
export type Application = z.infer<typeof applicationSchema>;

export const createApplicationSchema = z.strictObject({
  name: applicationFields.name,
  redirect_uris: applicationFields.redirect_uris.default([]),
  post_logout_redirect_uris: applicationFields.post_logout_redirect_uris.default([]),
  backchannel_logout_uri: applicationFields.backchannel_logout_uri.default(null),
  forward_auth_host: applicationFields.forward_auth_host.default(null),
  access: applicationFields.access.default('everyone'),
  allowed_roles: applicationFields.allowed_roles.default([]),
  user_ids: applicationFields.user_ids.default([]),
}).refine((a) => a.redirect_uris.length > 0 || a.forward_auth_host !== null, {
  path: ['redirect_uris'],
  message: 'Give a redirect URI, a forward authentication host, or both',
});
export type CreateApplicationRequest = z.infer<typeof createApplicationSchema>;

export const updateApplicationSchema = z
  .strictObject({
    version: z.number().int().min(1).max(2_147_483_647),
    name: applicationFields.name.optional(),
    redirect_uris: applicationFields.redirect_uris.optional(),
    post_logout_redirect_uris: applicationFields.post_logout_redirect_uris.optional(),
    backchannel_logout_uri: applicationFields.backchannel_logout_uri.optional(),
    forward_auth_host: applicationFields.forward_auth_host.optional(),
    access: applicationFields.access.optional(),
    allowed_roles: applicationFields.allowed_roles.optional(),
    user_ids: applicationFields.user_ids.optional(),
    enabled: applicationFields.enabled.optional(),
  })
  .refine((a) => Object.keys(a).length > 1, { path: ['_'], message: 'Nothing to change' });
export type UpdateApplicationRequest = z.infer<typeof updateApplicationSchema>;

/** The client secret is shown here only: at creation and when it is replaced. */
export const applicationWithSecretSchema = z.object({ application: applicationSchema, client_secret: z.string() });
export const applicationResponseSchema = z.object({ application: applicationSchema });
export const applicationListSchema = z.object({
  items: z.array(applicationSchema),
  /** The newest live event the list reflects. */
  seq: pageSeqSchema,
});
export type ApplicationList = z.infer<typeof applicationListSchema>;

/** The applications a user has signed in to (has a grant for). */
export const userApplicationsSchema = z.object({
  items: z.array(z.object({ application_id: z.uuid(), name: z.string(), client_id: z.string(), scopes: z.array(z.string()), granted_at: z.iso.datetime({ offset: true }) })),
});

export type UserApplication = z.infer<typeof userApplicationsSchema>['items'][number];

// ---- Signing in to an application: the console's authorization page ------------------------------

export const authorizationSchema = z.object({
  uid: z.string(),
  application: z.object({ name: z.string(), client_id: z.string() }),
  /** What the application asks to read. */
  scopes: z.array(z.string()),
  /** The user already allowed this application these scopes: continue without asking. */
  consented: z.boolean(),
  /** The application's access rule lets this user in. */
  permitted: z.boolean(),
});
export type Authorization = z.infer<typeof authorizationSchema>;

export const authorizationDecisionSchema = z.strictObject({ allow: z.boolean() });
export const authorizationResultSchema = z.object({ redirect: z.string() });

// ---- Forward authentication -----------------------------------------------------------------------

/** `redirect=true`: answer a signed-out browser with a redirect to Roster's sign-in, not a 401. */
export const verifyQuerySchema = z.strictObject({ redirect: z.enum(['true', 'false']).default('false').transform((v) => v === 'true') });
/** Who the proxied request is from (the same is in the X-Roster-* headers, which proxies pass on). */
export const verifiedSchema = z.object({ user: z.object({ id: z.uuid(), username: z.string(), email: z.string(), role: roleSchema }) });
export const returnToQuerySchema = z.strictObject({ url: z.string().max(2000) });
export const returnToSchema = z.object({ url: z.string() });
