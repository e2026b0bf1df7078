/**
 * The ticked rows of the users table. "All matching" stands for every user the filters match,
 * loaded or not (the ids are fetched when a bulk action runs).
 */
export class Selection {
  ids = $state(new Set<string>());
  allMatching = $state(false);

  has(id: string): boolean {
    return this.allMatching || this.ids.has(id);
  }

  toggle(id: string) {
    const next = new Set(this.ids);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    this.ids = next;
    this.allMatching = false;
  }

  /** Ticks the loaded rows, and every other match when more exist than are loaded. */
  selectAll(loaded: string[], more: boolean) {
    this.ids = new Set(loaded);
    this.allMatching = more;
  }

  clear() {
    this.ids = new Set();
    this.allMatching = false;
  }

  count(total: number): number {
    return this.allMatching ? total : this.ids.size;
  }
}
