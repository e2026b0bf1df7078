import { describe, expect, test } from 'vitest';
import type { LiveEvent } from '@roster/shared';
import { EventPosition } from './event-position';

const event = (seq: number) => ({ seq }) as LiveEvent;

describe('EventPosition: pages and live events in order', () => {
  test('an event the rows already reflect is dropped, a newer one applies once', () => {
    const position = new EventPosition();
    position.loading();
    expect(position.arrived(10, { replacesRows: true })).toEqual([]);
    position.settled();
    expect(position.take(event(9))).toBe(false);
    expect(position.take(event(10))).toBe(false);
    expect(position.take(event(11))).toBe(true);
    expect(position.take(event(11))).toBe(false);
  });

  test('events that came while a page was on its way apply to it when they are newer than it', () => {
    const position = new EventPosition();
    position.loading();
    for (const seq of [4, 5, 6]) expect(position.take(event(seq))).toBe(true);
    // Read after event 5: only 6 is news to it.
    expect(position.arrived(5, { replacesRows: true }).map((e) => e.seq)).toEqual([6]);
    position.settled();
    expect(position.take(event(6))).toBe(false);
    expect(position.take(event(7))).toBe(true);
  });

  test('a page read ahead of the events on their way makes them old news when it replaces the rows', () => {
    const position = new EventPosition();
    position.loading();
    expect(position.arrived(8, { replacesRows: true })).toEqual([]);
    position.settled();
    for (const seq of [7, 8]) expect(position.take(event(seq))).toBe(false);
  });

  test('a further page leaves the loaded rows where they were', () => {
    const position = new EventPosition();
    position.loading();
    position.arrived(3, { replacesRows: true });
    position.settled();
    position.loading();
    expect(position.arrived(8, { replacesRows: false })).toEqual([]);
    position.settled();
    // The rows loaded first still need events 4 to 8.
    expect(position.take(event(4))).toBe(true);
  });

  test('events are kept while any page is on its way, and forgotten once none is', () => {
    const position = new EventPosition();
    position.loading();
    position.loading(); // a reload superseding the first load
    expect(position.take(event(1))).toBe(true);
    position.settled(); // the superseded load
    expect(position.take(event(2))).toBe(true);
    expect(position.arrived(0, { replacesRows: true }).map((e) => e.seq)).toEqual([1, 2]);
    position.settled();
    position.loading();
    expect(position.arrived(0, { replacesRows: true })).toEqual([]);
    position.settled();
  });

  test('a page read ahead of the rows waits until they reach its events, or the limit', async () => {
    const position = new EventPosition();
    const settledAt = (promise: Promise<boolean>) => {
      let done = false;
      void promise.then(() => (done = true));
      return () => done;
    };
    position.loading();
    position.arrived(3, { replacesRows: true });
    position.settled();
    const page = settledAt(position.reached(5, 60_000));
    await Promise.resolve();
    expect(page()).toBe(false);
    position.take(event(4));
    await Promise.resolve();
    expect(page()).toBe(false);
    position.take(event(5));
    await Promise.resolve();
    expect(page()).toBe(true);
    expect(await position.reached(5, 60_000)).toBe(true); // already there

    // A reload's page covers the reads at or before it, not those read after it: a row read at
    // event 9 while the reload (read at 6) was on its way still waits for events 7 to 9.
    const covered = settledAt(position.reached(6, 60_000));
    const ahead = settledAt(position.reached(9, 60_000));
    position.loading();
    position.arrived(6, { replacesRows: true });
    await Promise.resolve();
    expect(covered()).toBe(true);
    expect(ahead()).toBe(false);
    for (const seq of [7, 8, 9]) position.take(event(seq));
    await Promise.resolve();
    expect(ahead()).toBe(true);

    expect(await position.reached(20, 50)).toBe(false); // no event 20 comes: it gives up
  });
});
