/**
 * Where keyboard focus goes once `control` is gone (its row of a live list, removed by another
 * admin while a dialog it opened was open), so a keyboard user goes on from there rather than
 * from the top: the button of the same name in the row after, or else the row before; without
 * one, the heading of the section (or dialog, or page) that held the row. Call it while the row
 * is there; the function it returns answers null while `control` is still there.
 */
export function placeOf(control: HTMLElement): () => HTMLElement | null {
  const row = control.closest('li, tr');
  const neighbours = [row?.nextElementSibling, row?.previousElementSibling];
  const name = control.textContent.trim();
  const ancestors: HTMLElement[] = [];
  for (let parent = control.parentElement; parent; parent = parent.parentElement) ancestors.push(parent);
  return () => {
    if (control.isConnected) return null;
    for (const neighbour of neighbours) {
      if (!neighbour?.isConnected) continue;
      const same = Array.from(neighbour.querySelectorAll<HTMLElement>('button, a[href]')).find((c) => c.textContent.trim() === name);
      if (same) return same;
    }
    const section = ancestors.find((a) => a.isConnected)?.closest<HTMLElement>('section, [role="dialog"], main');
    const heading = section?.querySelector<HTMLElement>('h1, h2, h3, h4') ?? section;
    // Focusable from script only (not a Tab stop of its own); Tab goes on from there.
    if (heading && !heading.hasAttribute('tabindex')) heading.tabIndex = -1;
    return heading ?? null;
  };
}
