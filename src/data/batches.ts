// Mini-batches for training: a fresh seeded permutation per epoch, batches as index lists, and a
// copy of those images into a reusable buffer (no per-batch allocation).
import type { Rng } from './rng.js';
import type { ImageSet } from './imageSet.js';

/**
 * Yields one epoch of shuffled index batches. dropLast (default, as the reference's train loader)
 * skips the final short batch, so a set smaller than batchSize yields nothing.
 */
export function* batchIterator(set: { count: number }, batchSize: number, rng: Rng, opts: { dropLast?: boolean } = {}): Generator<Uint32Array> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer; got ${batchSize}`);
  const order = rng.shuffle(Uint32Array.from({ length: set.count }, (_, i) => i));
  const end = opts.dropLast === false ? set.count : set.count - (set.count % batchSize);
  for (let start = 0; start < end; start += batchSize) yield order.subarray(start, Math.min(start + batchSize, end));
}

/** Copies the images at `indices` into `out` (NHWC, batch-major); allocates when `out` is omitted. */
export function gatherBatch(set: ImageSet, indices: ArrayLike<number>, out?: Float32Array): Float32Array {
  const per = set.isize * set.isize * set.nc;
  const dst = out ?? new Float32Array(indices.length * per);
  if (dst.length < indices.length * per) throw new RangeError(`batch buffer holds ${dst.length} floats; ${indices.length} images need ${indices.length * per}`);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    if (!(i >= 0 && i < set.count)) throw new RangeError(`image index ${i} outside set of ${set.count}`);
    dst.set(set.images.subarray(i * per, (i + 1) * per), b * per);
  }
  return dst;
}
