// Patch datasets: every frame of a split cut into model-sized tiles (the runtime's cutFrameTiles,
// so training sees the floats scoring will), the tiles of one set back to back in one ImageSet.
// The split is made over frames before cutting: no frame lends tiles to two sets.
import type { FrameTiles } from '@ganomaly-edge/runtime';
import { DataError } from './errors.js';
import type { ImageSet } from './imageSet.js';

/**
 * One set of tiles from a set of frames: `cuts[slot]` are the tiles of the frame in `frames` slot
 * `slot` (HWC), undefined for a frame left out (undecodable).
 */
export function tileImageSet(frames: ImageSet, cuts: readonly (FrameTiles | undefined)[]): ImageSet {
  const kept: number[] = [];
  for (let slot = 0; slot < frames.count; slot++) if (cuts[slot]) kept.push(slot);
  const tiles = kept.reduce((a, slot) => a + cuts[slot]!.count, 0);
  const per = frames.isize * frames.isize * frames.nc;
  let images: Float32Array;
  try {
    images = new Float32Array(tiles * per);
  } catch {
    throw new DataError(`cannot allocate ${((tiles * per * 4) / 2 ** 30).toFixed(1)} GiB for ${tiles} tiles; use maxImages (--max-images), a larger stride or a smaller frame`);
  }
  const labels = new Uint8Array(tiles);
  const sources = new Uint32Array(tiles);
  const start = new Uint32Array(kept.length + 1);
  let t = 0;
  kept.forEach((slot, f) => {
    const cut = cuts[slot]!;
    if (cut.layout !== 'HWC' || cut.per !== per) throw new DataError(`tiles of frame ${slot} have ${cut.per} values in ${cut.layout}; the set needs ${per} in HWC`);
    start[f] = t;
    images.set(cut.data, t * per);
    labels.fill(frames.labels[slot]!, t, t + cut.count);
    sources.fill(frames.sources[slot]!, t, t + cut.count);
    t += cut.count;
  });
  start[kept.length] = t;
  return {
    images, labels, sources, count: tiles, isize: frames.isize, nc: frames.nc,
    frames: {
      count: kept.length,
      start,
      sources: Uint32Array.from(kept, (slot) => frames.sources[slot]!),
      labels: Uint8Array.from(kept, (slot) => frames.labels[slot]!),
    },
  };
}

/** Reduces per-tile scores to one score per frame (the worst tile's), for calibration and evaluation. */
export function frameScores(set: Pick<ImageSet, 'frames' | 'count'>, tileScores: ArrayLike<number>): Float64Array {
  if (!set.frames) return Float64Array.from(tileScores);
  const { count, start } = set.frames;
  const out = new Float64Array(count);
  for (let f = 0; f < count; f++) {
    let m = -Infinity;
    for (let t = start[f]!; t < start[f + 1]!; t++) if (!(tileScores[t]! <= m)) m = tileScores[t]!;
    out[f] = m;
  }
  return out;
}
