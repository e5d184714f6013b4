import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { batchIterator, capCounts, createRng, DataError, deriveSeed, gatherBatch, splitPool, type ImageSet } from '../../../src/data/index.js';

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
const sha = (...arrays: ArrayBufferView[]): string => {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex').slice(0, 16);
};

describe('rng', () => {
  it('is mulberry32: pinned outputs (changing them would change every recorded split)', () => {
    const r = createRng(42);
    const first = [r.nextUint32(), r.nextUint32(), r.nextUint32()];
    expect(first).toEqual(PINNED_42);
    expect(createRng(42).nextUint32()).toBe(first[0]);
    expect(createRng(43).nextUint32()).not.toBe(first[0]);
  });

  it('nextInt stays in range and hits every value; next is in [0, 1)', () => {
    const r = createRng(7);
    const seen = new Array(7).fill(0);
    for (let i = 0; i < 7000; i++) seen[r.nextInt(7)]++;
    for (const c of seen) expect(c).toBeGreaterThan(850);
    for (let i = 0; i < 1000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
    }
    expect(() => r.nextInt(0)).toThrow(RangeError);
  });

  it('shuffles into a permutation, deterministically per seed', () => {
    const a = createRng(1).shuffle(Uint32Array.from(range(0, 100)));
    const b = createRng(1).shuffle(Uint32Array.from(range(0, 100)));
    const c = createRng(2).shuffle(range(0, 100));
    expect([...a]).toEqual([...b]);
    expect([...a]).not.toEqual(range(0, 100));
    expect([...a]).not.toEqual(c);
    expect([...a].sort((x, y) => x - y)).toEqual(range(0, 100));
  });

  it('rejects bad seeds; derived streams differ', () => {
    expect(() => createRng(-1)).toThrow(RangeError);
    expect(() => createRng(1.5)).toThrow(RangeError);
    expect(() => createRng(2 ** 32)).toThrow(RangeError);
    const s = new Set([deriveSeed(5, 0), deriveSeed(5, 1), deriveSeed(5, 2), deriveSeed(6, 0), 5]);
    expect(s.size).toBe(5);
    expect(deriveSeed(5, 1)).toBe(deriveSeed(5, 1));
  });
});

describe('splitPool (reference protocol)', () => {
  const normal = range(0, 900);
  const abnormal = range(900, 1000);
  const base = { seed: 3, validationFraction: 0.1, testFraction: 0.2 };

  it('puts 20 % of normals and every abnormal in test, 10 % of train normals in validation', () => {
    const s = splitPool(normal, abnormal, base);
    expect([s.train.length, s.validation.length, s.test.length]).toEqual([648, 72, 180 + 100]);
    const all = [...s.train, ...s.validation, ...s.test];
    expect(new Set(all).size).toBe(1000);
    for (const i of [...s.train, ...s.validation]) expect(i).toBeLessThan(900);
    for (let k = 0; k < s.test.length; k++) expect(s.testLabels[k]).toBe(s.test[k]! >= 900 ? 1 : 0);
    expect(s.testLabels.reduce((a, b) => a + b, 0)).toBe(100);
    for (const set of [s.train, s.validation, s.test]) for (let k = 1; k < set.length; k++) expect(set[k]!).toBeGreaterThan(set[k - 1]!);
  });

  it('is identical for the same seed and differs for another (pinned)', () => {
    const a = splitPool(normal, abnormal, base);
    const b = splitPool(normal, abnormal, base);
    expect(sha(a.train, a.validation, a.test, a.testLabels)).toBe(sha(b.train, b.validation, b.test, b.testLabels));
    const c = splitPool(normal, abnormal, { ...base, seed: 4 });
    expect(sha(c.train)).not.toBe(sha(a.train));
    expect(sha(a.train, a.validation, a.test, a.testLabels)).toBe(PINNED_SPLIT);
  });

  it('caps with maxImages per class, keeping the proportion', () => {
    expect(capCounts(63000, 7000, 2000)).toEqual({ normal: 1800, abnormal: 200 });
    expect(capCounts(900, 100, 5000)).toEqual({ normal: 900, abnormal: 100 });
    expect(capCounts(999, 1, 10)).toEqual({ normal: 9, abnormal: 1 });
    expect(capCounts(10, 0, 5)).toEqual({ normal: 5, abnormal: 0 });
    const s = splitPool(normal, abnormal, { ...base, maxImages: 200 });
    expect([s.train.length, s.validation.length, s.test.length, s.testLabels.reduce((a, b) => a + b, 0)]).toEqual([130, 14, 56, 20]);
  });

  it('rejects bad protocols with DataError', () => {
    expect(() => splitPool(normal, abnormal, { ...base, testFraction: 0 })).toThrow(DataError);
    expect(() => splitPool(normal, abnormal, { ...base, testFraction: 1 })).toThrow(/testFraction/);
    expect(() => splitPool(normal, abnormal, { ...base, validationFraction: -0.1 })).toThrow(/validationFraction/);
    expect(() => splitPool(normal, abnormal, { ...base, validationFraction: NaN })).toThrow(/validationFraction/);
    expect(() => splitPool(normal, abnormal, { ...base, maxImages: 1 })).toThrow(/maxImages/);
    expect(() => splitPool(normal, abnormal, { ...base, seed: -3 })).toThrow(/seed/);
    expect(() => splitPool([0, 1], [2], { seed: 1, testFraction: 0.5, validationFraction: 0.5 })).toThrow(/too few normal images/);
  });
});

describe('batches', () => {
  const set: ImageSet = {
    images: Float32Array.from({ length: 10 * 2 * 2 }, (_, i) => i),
    labels: new Uint8Array(10),
    sources: Uint32Array.from(range(0, 10)),
    count: 10,
    isize: 2,
    nc: 1,
  };

  it('drops the last short batch by default and never repeats an index', () => {
    const batches = [...batchIterator(set, 4, createRng(9))];
    expect(batches.map((b) => b.length)).toEqual([4, 4]);
    expect(new Set(batches.flatMap((b) => [...b])).size).toBe(8);
    const all = [...batchIterator(set, 4, createRng(9), { dropLast: false })];
    expect(all.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(all.flatMap((b) => [...b]).sort((a, b) => a - b)).toEqual(range(0, 10));
    expect([...batchIterator(set, 11, createRng(9))]).toEqual([]);
    const rng = createRng(9);
    const e1 = [...batchIterator(set, 5, rng)].flatMap((b) => [...b]);
    const e2 = [...batchIterator(set, 5, rng)].flatMap((b) => [...b]);
    expect(e1).not.toEqual(e2);
  });

  it('gathers images in index order into a reused buffer', () => {
    const out = new Float32Array(3 * 4);
    gatherBatch(set, [9, 0, 4], out);
    expect([...out]).toEqual([36, 37, 38, 39, 0, 1, 2, 3, 16, 17, 18, 19]);
    expect(() => gatherBatch(set, [10], out)).toThrow(RangeError);
    expect(() => gatherBatch(set, [1, 2, 3, 4], out)).toThrow(/batch buffer/);
  });
});

// Same as the canonical JavaScript mulberry32(42).
const PINNED_42 = [2581720956, 1925393290, 3661312704];
const PINNED_SPLIT = 'cbe4828465fbcfd0';
