import { describe, expect, test } from 'vitest';
import { meterUsage, WARNING_RATIO } from './usage.ts';

describe('meterUsage: a month of one meter against its budget', () => {
  test('no budget: unlimited, always ok, with no ratio', () => {
    expect(meterUsage(0, null)).toEqual({ used: 0, budget: null, ratio: null, state: 'ok' });
    expect(meterUsage(1e12, null)).toEqual({ used: 1e12, budget: null, ratio: null, state: 'ok' });
  });

  test('ok below the warning share, warning from it, blocked from the whole budget on', () => {
    const budget = 100_000;
    const state = (used: number) => meterUsage(used, budget).state;
    expect(state(0)).toBe('ok');
    expect(state(budget * WARNING_RATIO - 1)).toBe('ok');
    expect(state(budget * WARNING_RATIO)).toBe('warning');
    expect(state(budget - 1)).toBe('warning');
    expect(state(budget)).toBe('blocked');
    expect(state(budget * 3)).toBe('blocked');
  });

  test('the ratio is the share used, past 1 when over budget', () => {
    expect(meterUsage(25, 100)).toEqual({ used: 25, budget: 100, ratio: 0.25, state: 'ok' });
    expect(meterUsage(150, 100).ratio).toBe(1.5);
  });
});
