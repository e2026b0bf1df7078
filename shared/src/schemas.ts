// The request and response schemas, one file per domain under schemas/; importers keep using this file.
export * from './schemas/fields.ts';
export * from './schemas/account.ts';
export * from './schemas/users.ts';
export * from './schemas/sessions.ts';
export * from './schemas/api-keys.ts';
export * from './schemas/usage.ts';
export * from './schemas/projects.ts';
export * from './schemas/stats.ts';
