import type { LiveEvent } from '@roster/shared';
import { EventPosition } from './event-position';
import { Flashing } from './flashing.svelte';
import { live } from './live.svelte';

/** What one live event does to a list: its rows after it, and the row someone just changed. */
export type ListChange<T> = (items: T[], event: LiveEvent) => { items: T[]; flash?: string };

/**
 * A list loaded whole (applications, projects, invitations) and kept current by live events. A
 * newer load makes the answers of older ones void; pages and events are ordered by `EventPosition`.
 */
export class LiveList<T> {
  items = $state<T[]>([]);
  /** The first load is done (or failed, and said so). */
  loaded = $state(false);
  readonly flashing = new Flashing();
  private readonly position = new EventPosition();
  private generation = 0;

  /** `fetch` answers undefined when the load failed (it tells the user). */
  constructor(
    private readonly fetch: () => Promise<{ items: T[]; seq: number } | undefined>,
    private readonly change: ListChange<T>,
  ) {}

  /** Loads the list and keeps it current while the caller's effect lives (returns the cleanup). */
  follow(): () => void {
    void this.load();
    return live.subscribe(
      (event) => this.apply(event),
      () => void this.load(),
    );
  }

  async load() {
    const generation = ++this.generation;
    this.position.loading();
    try {
      const page = await this.fetch();
      if (generation !== this.generation) return;
      if (page) {
        live.loadedAt(page.seq);
        const events = this.position.arrived(page.seq, { replacesRows: true });
        this.items = events.reduce((items, event) => this.change(items, event).items, page.items);
      }
      this.loaded = true;
    } finally {
      this.position.settled();
    }
  }

  private apply(event: LiveEvent) {
    if (!this.position.take(event)) return;
    const { items, flash } = this.change(this.items, event);
    this.items = items;
    if (flash) this.flashing.add(flash);
  }
}
