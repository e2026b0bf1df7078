import { createVirtualizer } from '@tanstack/svelte-virtual';
import { untrack } from 'svelte';
import { fromStore, get } from 'svelte/store';
import { attempt } from './notify';

/**
 * The rows of a keyset list (the users table, the sessions list) that are in view, for a table in
 * `scroller` (TanStack Virtual): `before` and `after` are the heights of the spacer rows standing in
 * for the rest, and the next page loads before the last loaded row comes into view, so 100,000 rows
 * scroll like 100. Call it while a component initialises (it sets up effects).
 */
export function virtualRows(
  list: () => { items: { id: string }[]; hasMore: boolean; loading: boolean; loadMore: () => Promise<void> },
  scroller: () => HTMLDivElement | null,
  rowHeight: number,
) {
  const virtualizer = createVirtualizer<HTMLDivElement, HTMLTableRowElement>({
    count: 0,
    getScrollElement: scroller,
    estimateSize: () => rowHeight,
    overscan: 8,
    getItemKey: (index) => list().items[index]?.id ?? index,
  });
  const current = fromStore(virtualizer);

  // The store's own updates must not re-run this: only a new row count (or the element) does.
  $effect(() => {
    const count = list().items.length;
    if (!scroller()) return;
    untrack(() => get(virtualizer).setOptions({ count }));
  });

  const rows = $derived(current.current.getVirtualItems());
  const before = $derived(rows[0]?.start ?? 0);
  const after = $derived(Math.max(0, current.current.getTotalSize() - (rows.at(-1)?.end ?? 0)));

  // Endless scrolling: the next page loads before the last loaded row comes into view.
  $effect(() => {
    const last = rows.at(-1);
    const loaded = list();
    if (last && last.index >= loaded.items.length - 20 && loaded.hasMore && !loaded.loading) void attempt(() => loaded.loadMore());
  });

  return {
    get rows() {
      return rows;
    },
    get before() {
      return before;
    },
    get after() {
      return after;
    },
    /** For rows of differing heights: a row reports its real height (and again when it changes). */
    measure(row: HTMLTableRowElement) {
      get(virtualizer).measureElement(row);
    },
  };
}
