import type { MeterUsage } from './schemas.ts';

/** Share of the budget at which a meter turns to `warning`; at 1 it is `blocked`. */
export const WARNING_RATIO = 0.8;

/** Rates a month's use of a meter against its budget (null: unlimited, always ok). */
export function meterUsage(used: number, budget: number | null): MeterUsage {
  if (budget === null) return { used, budget, ratio: null, state: 'ok' };
  const ratio = used / budget;
  return { used, budget, ratio, state: ratio >= 1 ? 'blocked' : ratio >= WARNING_RATIO ? 'warning' : 'ok' };
}
