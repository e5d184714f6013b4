// Camera frames and images → the preprocessed NHWC set training reads, through the same pixel
// code as every runtime (src/runtime/core/pixels.ts), so a model trained in a page sees what it will score.
import { checkRawPixels, cutFrameTiles, decodeWebImage, defaultPreprocessing, isRawPixels, preprocessImage, type FrameTiles, type RawImage, type Tiling, type WebImageInput } from '@ganomaly-edge/runtime/web';
import { allocateImageSet, type ImageSet } from '../data/imageSet.js';
import { tileImageSet } from '../data/tiles.js';
import { createRng, deriveSeed } from '../data/rng.js';

/** A training frame: anything the browser runtime scores (ImageData, ImageBitmap, canvas, video, img, Blob) or raw pixels. */
export type FrameInput = WebImageInput | RawImage;

export async function framePixels(frame: FrameInput, index: number): Promise<RawImage> {
  if (isRawPixels(frame)) {
    checkRawPixels(frame, index);
    return frame;
  }
  return decodeWebImage(frame);
}

/**
 * Splits frames into training and validation (calibration) slices with a seeded shuffle, each
 * kept in capture order, and preprocesses them (patch models: cuts each into tiles, the split
 * staying by frame). At least one frame goes to validation.
 */
export async function framesToSets(
  frames: readonly FrameInput[],
  opts: { isize: number; nc: 1 | 3; seed: number; validationFraction: number; tiling?: Tiling },
): Promise<{ train: ImageSet; validation: ImageSet }> {
  const n = frames.length;
  const nVal = Math.min(n - 1, Math.max(1, Math.round(n * opts.validationFraction)));
  if (n < 2) throw new RangeError(`training needs at least 2 frames (one for validation); got ${n}`);
  const order = createRng(deriveSeed(opts.seed, 3)).shuffle(Uint32Array.from({ length: n }, (_, i) => i));
  const val = Uint32Array.from(order.subarray(0, nVal)).sort();
  const tr = Uint32Array.from(order.subarray(nVal)).sort();
  const pre = defaultPreprocessing(opts.isize, opts.nc);
  const per = opts.isize * opts.isize * opts.nc;
  const fill = async (idx: Uint32Array): Promise<ImageSet> => {
    if (opts.tiling) {
      const cuts: FrameTiles[] = [];
      for (let slot = 0; slot < idx.length; slot++) cuts.push(cutFrameTiles(await framePixels(frames[idx[slot]!]!, idx[slot]!), opts.tiling, pre, 'HWC'));
      return tileImageSet({ images: new Float32Array(0), labels: new Uint8Array(idx.length), sources: idx, count: idx.length, isize: opts.isize, nc: opts.nc }, cuts);
    }
    const set = allocateImageSet(idx, new Uint8Array(idx.length), opts.isize, opts.nc);
    for (let slot = 0; slot < idx.length; slot++) {
      preprocessImage(await framePixels(frames[idx[slot]!]!, idx[slot]!), pre, 'HWC', set.images, slot * per);
    }
    return set;
  };
  return { train: await fill(tr), validation: await fill(val) };
}
