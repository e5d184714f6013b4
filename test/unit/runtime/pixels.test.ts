// The fused channel conversion + bilinear resize (preprocessImage's path since issue 13: only the
// sampled pixels are converted) gives the same values, bit for bit, as converting the whole image
// first, for every channel count, both model channel counts, down- and up-scaling.
import { describe, expect, it } from 'vitest';
import { resizeBilinear, resizeBilinearConverted, toChannels } from '../../../src/runtime/core/pixels.js';
import { testImage } from '../../helpers/make-model.js';

describe('resizeBilinearConverted', () => {
  for (const channels of [1, 2, 3, 4]) {
    for (const nc of [1, 3] as const) {
      it(`${channels} → ${nc} channels`, () => {
        for (const [w, h, ow, oh, seed] of [[97, 61, 32, 32, 1], [40, 40, 64, 48, 2], [5, 300, 16, 16, 3], [32, 32, 32, 32, 4]] as const) {
          const img = testImage(w, h, channels, seed);
          const fused = resizeBilinearConverted(img, nc, ow, oh);
          const reference = resizeBilinear(toChannels(img, nc), ow, oh);
          expect(Array.from(fused)).toEqual(Array.from(reference));
        }
      });
    }
  }
});
