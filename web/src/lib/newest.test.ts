import { describe, expect, test } from 'vitest';
import { newestOnly } from './newest';

describe('newestOnly: loads whose answers land out of order', () => {
  test('an older answer landing after a newer one is dropped', async () => {
    const answers: ((value: string) => void)[] = [];
    const load = newestOnly(() => new Promise<string>((resolve) => answers.push(resolve)));
    const first = load();
    const second = load();
    answers[1]!('newer');
    answers[0]!('older');
    expect(await second).toBe('newer');
    expect(await first).toBeUndefined();
  });

  test('answers in order all count', async () => {
    let n = 0;
    const load = newestOnly(async () => ++n);
    expect(await load()).toBe(1);
    expect(await load()).toBe(2);
  });
});
