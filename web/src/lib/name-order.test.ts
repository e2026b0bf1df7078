import { describe, expect, test } from 'vitest';
import { byName } from './name-order';

describe('byName', () => {
  test('lower-cased names by code unit, whatever a locale would say; the id between equal names', () => {
    const rows = [
      { id: 'b', name: 'Wiki' },
      { id: 'c', name: 'a_b' },
      { id: 'd', name: 'a-c' },
      { id: 'a', name: 'wiki' },
      { id: 'e', name: 'Zeta' },
      { id: 'f', name: 'alpha' },
    ];
    expect(rows.sort(byName).map((r) => `${r.name} ${r.id}`)).toEqual(['a-c d', 'a_b c', 'alpha f', 'wiki a', 'Wiki b', 'Zeta e']);
  });
});
