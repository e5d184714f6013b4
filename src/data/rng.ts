// Seedable PRNG for everything that must be reproducible from a seed alone: the data split (which
// evaluation recomputes later), batch order, subsets. Math.random cannot be seeded.

/** Arrays and typed arrays alike. */
export type MutableList = { length: number; [i: number]: unknown };

export interface Rng {
  readonly seed: number;
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n), unbiased. */
  nextInt(n: number): number;
  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<L extends MutableList>(arr: L): L;
}

function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in 0..4294967295; got ${seed}`);
  }
}

/** mulberry32: 32-bit state, passes PractRand to 2^32 outputs — ample for shuffles and splits. */
export function createRng(seed: number): Rng {
  checkSeed(seed);
  let state = seed | 0;
  const nextUint32 = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const nextInt = (n: number): number => {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) throw new RangeError(`nextInt bound must be an integer in 1..2^32; got ${n}`);
    // Rejection sampling: drop the top partial block of 2^32 so every residue is equally likely.
    const limit = 0x100000000 - (0x100000000 % n);
    let x = nextUint32();
    while (x >= limit) x = nextUint32();
    return x % n;
  };
  return {
    seed,
    nextUint32,
    next: () => nextUint32() / 0x100000000,
    nextInt,
    shuffle<L extends MutableList>(arr: L): L {
      for (let i = arr.length - 1; i > 0; i--) {
        const j = nextInt(i + 1);
        const tmp = arr[i];
        arr[i] = arr[j];
        arr[j] = tmp;
      }
      return arr;
    },
  };
}

/**
 * A seed for an independent stream (split, batch order, weight init...) derived from one user
 * seed, so consuming more numbers in one stream never changes another. splitmix32-style mixing.
 */
export function deriveSeed(seed: number, stream: number): number {
  checkSeed(seed);
  let z = (seed + Math.imul(stream + 1, 0x9e3779b9)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
