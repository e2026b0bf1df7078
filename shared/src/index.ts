export * from './errors.ts';
export * from './schemas.ts';
export * from './permissions.ts';
export * from './api.ts';
export * from './events.ts';
export * from './usage.ts';
export * from './input.ts';
export * from './applications.ts';
