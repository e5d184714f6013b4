// The in-memory form of a train/validation/test set, shared by the loader, batching and trainer.
import { DataError } from './errors.js';

export interface ImageSet {
  /** count × isize × isize × nc floats, NHWC, normalised to [-1, 1]. */
  images: Float32Array;
  /** 1 = abnormal, 0 = normal, one per image. */
  labels: Uint8Array;
  /** Index of each image in the pooled dataset (see Dataset.sourceName). */
  sources: Uint32Array;
  count: number;
  isize: number;
  nc: 1 | 3;
  /**
   * Patch models: the set's images are tiles, and this groups them by frame. Frame f's tiles are
   * images start[f] .. start[f + 1] − 1; labels and sources above are then per tile (the frame's).
   */
  frames?: FrameIndex;
}

export interface FrameIndex {
  count: number;
  /** count + 1 tile offsets. */
  start: Uint32Array;
  /** Pool index of each frame. */
  sources: Uint32Array;
  /** 1 = abnormal, per frame. */
  labels: Uint8Array;
}

/** How many frames (patch sets) or images (whole-image sets) a set holds. */
export function frameCount(set: ImageSet): number {
  return set.frames ? set.frames.count : set.count;
}

export function allocateImageSet(sources: Uint32Array, labels: Uint8Array, isize: number, nc: 1 | 3): ImageSet {
  const floats = sources.length * isize * isize * nc;
  let images: Float32Array;
  try {
    images = new Float32Array(floats);
  } catch {
    throw new DataError(`cannot allocate ${(floats * 4 / 2 ** 30).toFixed(1)} GiB for ${sources.length} images at ${isize}x${isize}x${nc}; use maxImages (--max-images) or a smaller isize`);
  }
  return { images, labels, sources, count: sources.length, isize, nc };
}

/** Removes the images whose slot is in `drop`, in place, keeping order; returns the shorter set. */
export function dropSlots(set: ImageSet, drop: ReadonlySet<number>): ImageSet {
  if (drop.size === 0) return set;
  const per = set.isize * set.isize * set.nc;
  let w = 0;
  for (let r = 0; r < set.count; r++) {
    if (drop.has(r)) continue;
    if (w !== r) {
      set.images.copyWithin(w * per, r * per, (r + 1) * per);
      set.labels[w] = set.labels[r]!;
      set.sources[w] = set.sources[r]!;
    }
    w++;
  }
  return { ...set, images: set.images.subarray(0, w * per), labels: set.labels.subarray(0, w), sources: set.sources.subarray(0, w), count: w };
}
