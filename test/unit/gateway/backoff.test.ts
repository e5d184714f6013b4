// Reconnect delays: doubling from baseMs, capped at maxMs, jitter only shortening.
import { describe, expect, it } from 'vitest';
import { backoffDelay, backoffOptions } from '../../../src/gateway/watch/backoff.js';

describe('backoff', () => {
  it('doubles from baseMs up to maxMs without jitter', () => {
    const o = backoffOptions({ baseMs: 100, maxMs: 1000, jitter: 0 });
    expect([0, 1, 2, 3, 4, 5, 50, 5000].map((a) => backoffDelay(a, o))).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  });

  it('takes off at most jitter × the delay, never adds', () => {
    const o = backoffOptions({ baseMs: 1000, maxMs: 8000, jitter: 0.25 });
    expect(backoffDelay(3, o, () => 0)).toBe(8000);
    expect(backoffDelay(3, o, () => 0.999999)).toBe(6000);
    expect(backoffDelay(0, o, () => 0.5)).toBe(875);
  });

  it('defaults: 1 s doubling to 30 s, 20 % jitter', () => {
    const o = backoffOptions();
    expect(o).toEqual({ baseMs: 1000, maxMs: 30000, jitter: 0.2 });
    expect(backoffDelay(10, o, () => 0)).toBe(30000);
  });

  it('checks every option and the attempt', () => {
    expect(() => backoffOptions({ baseMs: 5 })).toThrow(RangeError);
    expect(() => backoffOptions({ baseMs: 2000, maxMs: 1000 })).toThrow(RangeError);
    expect(() => backoffOptions({ jitter: 1.5 })).toThrow(RangeError);
    expect(() => backoffOptions({ jitter: 'x' as never })).toThrow(TypeError);
    expect(() => backoffOptions({ maxMs: 2.5 })).toThrow(RangeError);
    expect(() => backoffDelay(-1, backoffOptions())).toThrow(RangeError);
  });
});
