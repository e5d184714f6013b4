// Which queued image a free decode worker takes (decode-pool.ts nextJob): express workers only
// small images; among those it may take, the oldest of the client with the fewest decodes running.
import { describe, expect, it } from 'vitest';
import { nextJob } from '../../../src/gateway/serve/decode-pool.js';

const job = (client: string, pixels: number) => ({ client, pixels });

describe('nextJob', () => {
  it('takes the oldest job when no client has a decode running', () => {
    expect(nextJob([job('a', 9e6), job('b', 100)], new Map(), Infinity)).toBe(0);
  });

  it('a client with decodes running yields to one with none, and to one with fewer', () => {
    const queue = [job('a', 9e6), job('a', 9e6), job('b', 9e6), job('c', 9e6)];
    expect(nextJob(queue, new Map([['a', 1]]), Infinity)).toBe(2);
    expect(nextJob(queue, new Map([['a', 2], ['b', 1], ['c', 1]]), Infinity)).toBe(2);
    expect(nextJob(queue, new Map([['a', 1], ['b', 2], ['c', 1]]), Infinity)).toBe(0);
  });

  it('an express worker takes only images of at most its pixels, however old the others are', () => {
    const queue = [job('a', 24e6), job('a', 24e6), job('legit', 1024), job('a', 24e6)];
    expect(nextJob(queue, new Map(), 2_100_000)).toBe(2);
    expect(nextJob([job('a', 24e6), job('x', Infinity)], new Map(), 2_100_000)).toBe(-1); // unknown size: general lane
    expect(nextJob([], new Map(), Infinity)).toBe(-1);
  });
});
