import { SvelteSet } from 'svelte/reactivity';

/** As long as the `.flash` animation in app.css runs. */
const FLASH_MS = 1600;

/** Rows that someone else changed just now: `class:flash={flashing.has(key)}` highlights them briefly. */
export class Flashing<K = string> {
  private readonly keys = new SvelteSet<K>();

  has(key: K): boolean {
    return this.keys.has(key);
  }

  add(key: K) {
    this.keys.add(key);
    setTimeout(() => this.keys.delete(key), FLASH_MS);
  }
}
