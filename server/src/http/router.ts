import type { Result, Router } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';

/**
 * Hono's trie router, with the answer for each parameter-free route path (`GET /auth/me`) worked
 * out once and kept: the trie walks every segment and gathers and sorts the matching handlers on
 * every request, about 4 µs of `GET /auth/me`'s Node time (BENCHMARKS.md). Hono's faster
 * RegExpRouter refuses Roster's route table (`/users/stats` beside `/users/:id`). The kept answers
 * are bounded by the routes registered, never by the paths clients send; paths with parameters go
 * to the trie each time.
 */
export class StaticPathsFirstRouter<T> implements Router<T> {
  readonly name = 'TrieRouter, parameter-free paths matched once';
  readonly #trie = new TrieRouter<T>();
  readonly #staticPaths = new Set<string>();
  readonly #matched = new Map<string, Result<T>>();

  add(method: string, path: string, handler: T): void {
    this.#trie.add(method, path, handler);
    if (!/[:*?{]/.test(path)) this.#staticPaths.add(path);
    this.#matched.clear();
  }

  match(method: string, path: string): Result<T> {
    if (!this.#staticPaths.has(path)) return this.#trie.match(method, path);
    const key = `${method} ${path}`;
    let result = this.#matched.get(key);
    if (!result) this.#matched.set(key, (result = this.#trie.match(method, path)));
    return result;
  }
}
