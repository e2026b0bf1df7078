import type { LiveEvent } from '@roster/shared';

interface Waiter {
  seq: number;
  resolve: (reached: boolean) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Where rows loaded over HTTP stand in the live feed, so that pages and events do not race.
 *
 * A page and the events race both ways: a page can be read before an event and arrive after it
 * (the page would undo the change), or be read after an event that arrives after it (a counted
 * change would count twice). Each page says which event it is current to (`seq`, read in one
 * snapshot with it; events become visible in sequence order), so the rows take the events after
 * that one which came while the page was on its way, and drop the events they already reflect.
 */
export class EventPosition {
  /** The newest event the rows reflect. */
  private seq = 0;
  /** Pages on their way. */
  private loads = 0;
  /** Events applied while pages were on their way, in order. */
  private meanwhile: LiveEvent[] = [];
  /** Pages waiting for the rows to reach the event they were read at (`reached`). */
  private waiting: Waiter[] = [];

  /** Takes `event` for the rows unless they reflect it already: true when the caller is to apply it. */
  take(event: LiveEvent): boolean {
    if (event.seq <= this.seq) return false;
    this.seq = event.seq;
    if (this.loads > 0) this.meanwhile.push(event);
    this.wake((waiter) => waiter.seq <= this.seq);
    return true;
  }

  /**
   * Whether the rows came to reflect event `seq` within `giveUpMs`: a further page read ahead of
   * them waits for the events still on their way, so that they reach the rows loaded before and
   * not the page, which has them. Staff, who load such pages, receive every event, but the live
   * channel may be away meanwhile. Reads made void by a reload are dropped by their callers.
   */
  reached(seq: number, giveUpMs: number): Promise<boolean> {
    if (seq <= this.seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = { seq, resolve, timer: setTimeout(() => this.wake((other) => other === waiter, false), giveUpMs) };
      this.waiting.push(waiter);
    });
  }

  private wake(ready: (waiter: Waiter) => boolean, reached = true) {
    const woken = this.waiting.filter(ready);
    this.waiting = this.waiting.filter((waiter) => !ready(waiter));
    for (const waiter of woken) {
      clearTimeout(waiter.timer);
      waiter.resolve(reached);
    }
  }

  /** A page is asked for. */
  loading(): void {
    this.loads += 1;
  }

  /** A page asked for arrived, failed or was superseded. */
  settled(): void {
    this.loads -= 1;
    if (this.loads === 0) this.meanwhile = [];
  }

  /**
   * The events to apply to a page read at `seq`: those after it that came while it was on its way.
   * `replacesRows`: the page's rows replace all the others, so they reflect the newest event now.
   */
  arrived(seq: number, { replacesRows }: { replacesRows: boolean }): LiveEvent[] {
    const events = this.meanwhile.filter((event) => event.seq > seq);
    if (replacesRows) {
      this.seq = Math.max(this.seq, seq);
      // Only the reads this page covers: one read later (a row read while the page was on its way)
      // still waits for its events, or it would take them a second time.
      this.wake((waiter) => waiter.seq <= this.seq);
    }
    return events;
  }
}
