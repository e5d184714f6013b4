// The page's frames → training sets: split by frame first, then (patch models) each frame cut by
// the runtime's cutFrameTiles, so a page trains on the floats the runtime will score.
import { describe, expect, it } from 'vitest';
import { framesToSets } from '../../../src/browser/frames.js';
import { cutFrameTiles, defaultPreprocessing, preprocessImage, type Tiling } from '../../../src/runtime/core/index.js';
import { testImage } from '../../helpers/make-model.js';

const frames = Array.from({ length: 10 }, (_, i) => testImage(64, 48, 1, 40 + i));

describe('framesToSets', () => {
  it('preprocesses whole frames into a seeded train/validation split', async () => {
    const sets = await framesToSets(frames, { isize: 32, nc: 1, seed: 1, validationFraction: 0.2 });
    expect([sets.train.count, sets.validation.count]).toEqual([8, 2]);
    expect(sets.train.frames).toBeUndefined();
    const slot0 = sets.validation.sources[0]!;
    expect(Array.from(sets.validation.images.subarray(0, 1024))).toEqual(Array.from(preprocessImage(frames[slot0]!, defaultPreprocessing(32, 1), 'HWC')));
  });

  it('cuts each frame of a patch model into tiles after the split, grouped by frame', async () => {
    const tiling: Tiling = { tile: 32, stride: 16, frame: 'any', reduce: 'max' };
    const whole = await framesToSets(frames, { isize: 32, nc: 1, seed: 1, validationFraction: 0.2 });
    const sets = await framesToSets(frames, { isize: 32, nc: 1, seed: 1, validationFraction: 0.2, tiling });
    // 64x48 at tile 32, stride 16: 3 × 2 tiles; the same frames land in the same sets.
    expect(Array.from(sets.validation.frames!.sources)).toEqual(Array.from(whole.validation.sources));
    expect([sets.train.count, sets.validation.count]).toEqual([8 * 6, 2 * 6]);
    expect(Array.from(sets.train.frames!.start)).toEqual(Array.from({ length: 9 }, (_, f) => f * 6));
    const f = sets.validation.frames!.sources[1]!;
    const cut = cutFrameTiles(frames[f]!, tiling, defaultPreprocessing(32, 1), 'HWC');
    expect(Array.from(sets.validation.images.subarray(6 * 1024, 12 * 1024))).toEqual(Array.from(cut.data));
  });
});
