import { afterEach, expect, test } from 'vitest';
import { DatabaseWatch } from './database-watch.ts';
import { createLogger } from './logger.ts';

let watch: DatabaseWatch | undefined;
afterEach(() => watch?.stop());

test('a request waiting when the database goes down answers 503 at once and is forgotten, though its work never settles (a frozen server answers nothing)', async () => {
  // Nothing listens on port 1: the first probe fails and the watch marks the database down.
  watch = new DatabaseWatch('postgres://roster@127.0.0.1:1/roster', createLogger('silent'));
  watch.start();
  const never = new Promise<never>(() => undefined);
  await expect(watch.guard(() => never)).rejects.toMatchObject({ code: 'DATABASE_DOWN' });
  // The abandoned request holds nothing in the watch: marking the database down lets go of every
  // waiting request, so a freeze under load leaks none (read from the private list: nothing else shows it).
  expect((watch as unknown as { waiting: unknown[] }).waiting.filter(Boolean)).toEqual([]);
  await expect(watch.guard(() => Promise.resolve('ran'))).rejects.toMatchObject({ code: 'DATABASE_DOWN' });
});
