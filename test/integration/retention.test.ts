import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../server/src/config.ts';

describe('AUDIT_RETENTION_DAYS', () => {
  test('defaults to 400 days and refuses less than the 30 days the statistics page reads', () => {
    expect(loadConfig({}).AUDIT_RETENTION_DAYS).toBe(400);
    expect(loadConfig({ AUDIT_RETENTION_DAYS: '30' }).AUDIT_RETENTION_DAYS).toBe(30);
    for (const bad of ['29', '0', '-1', '1.5', 'forever']) {
      expect(() => loadConfig({ AUDIT_RETENTION_DAYS: bad }), bad).toThrow(/AUDIT_RETENTION_DAYS/);
    }
  });
});
