import { TrieRouter } from 'hono/router/trie-router';
import { expect, test } from 'vitest';
import { apiRoutes } from '@roster/shared';
import { StaticPathsFirstRouter } from './router.ts';

// The kept answers must be the trie's own, for every route of the table, asked more than once.
test('matches exactly as the trie router, for every API route and paths around them', () => {
  const trie = new TrieRouter<string>();
  const router = new StaticPathsFirstRouter<string>();
  const add = (method: string, path: string, name: string) => {
    trie.add(method, path, name);
    router.add(method, path, name);
  };
  add('ALL', '*', 'log');
  add('ALL', '/api/*', 'headers');
  for (const key of Object.keys(apiRoutes)) {
    const [method, path] = key.split(' ') as [string, string];
    add(method, `/api/v1${path}`, `gate ${key}`);
    add(method, `/api/v1${path}`, key);
  }
  add('ALL', '/api/v1/*', 'not found');
  add('GET', '*', 'console');
  const paths = Object.keys(apiRoutes).map((key) => `/api/v1${key.split(' ')[1]!.replace(/:\w+/g, 'stats')}`);
  paths.push('/api/v1/nothing', '/healthz', '/');
  for (let round = 0; round < 2; round++) {
    for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) {
      for (const path of paths) expect(router.match(method, path), `${method} ${path}`).toEqual(trie.match(method, path));
    }
  }
});
