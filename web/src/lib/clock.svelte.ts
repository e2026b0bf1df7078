/** A coarse shared clock so relative times ("2 minutes ago") stay true without reloads. */
class Clock {
  now = $state(Date.now());
  constructor() {
    if (typeof window !== 'undefined') setInterval(() => (this.now = Date.now()), 30_000);
  }
}

export const clock = new Clock();
