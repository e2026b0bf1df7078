import type { LiveEvent } from '@roster/shared';

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

  /** Whether the rows do not reflect `event` yet; if so, they do from here on (the caller applies it). */
  isNews(event: LiveEvent): boolean {
    if (event.seq <= this.seq) return false;
    this.seq = event.seq;
    if (this.loads > 0) this.meanwhile.push(event);
    return true;
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
    if (replacesRows) this.seq = Math.max(this.seq, seq);
    return events;
  }
}
