// Raw pixel inputs are checked here, with typed errors, before the shared pixel pipeline sees
// them; everything else goes through the platform's decoder first.
import { checkRawPixels, preprocessImage, type RawImage } from './pixels.js';
import type { Preprocessing } from '../../types.js';
import { ChannelMismatchError, ImageDecodeError, InvalidImageError, MissingDependencyError, errorMessage } from './errors.js';
import type { RuntimePlatform } from './platform.js';

/** Decoded 8-bit pixels, interleaved (HWC): 1 grey, 2 grey+alpha, 3 RGB or 4 RGBA channels. */
export type RawPixels = RawImage;

/** True for `{ data, width, height, channels }` objects (not ImageData, which has no `channels`). */
export function isRawPixels(x: unknown): x is RawPixels {
  return (
    typeof x === 'object' &&
    x !== null &&
    'data' in x &&
    'width' in x &&
    'height' in x &&
    'channels' in x
  );
}

/** Any input → 8-bit pixels, with the input's position in every error. */
export async function toPixels(platform: RuntimePlatform, input: unknown, index: number): Promise<RawPixels> {
  if (isRawPixels(input)) {
    checkRawPixels(input, index);
    return input;
  }
  try {
    const img = await platform.decodeImage(input);
    checkRawPixels(img, index);
    return img;
  } catch (e) {
    if (e instanceof ImageDecodeError && e.index === undefined) throw new ImageDecodeError(`${e.message} (image ${index})`, index);
    if (e instanceof ImageDecodeError || e instanceof InvalidImageError || e instanceof ChannelMismatchError || e instanceof MissingDependencyError) throw e;
    throw new ImageDecodeError(`could not decode image ${index}: ${errorMessage(e)}`, index);
  }
}

/**
 * One image as the model takes it: `img` converted, resized and normalised by `pre` into a new
 * CHW float array of inputSize(pre) values — what Detector.scorePreprocessed accepts. Lets a
 * caller decode and preprocess where it likes (a worker thread) and hand over only the tensor.
 */
export function preprocessPixels(img: RawPixels, pre: Preprocessing): Float32Array {
  return preprocessImage(img, pre, 'CHW');
}

export function inputSize(pre: Preprocessing): number {
  return (pre.channelOrder === 'gray' ? 1 : 3) * pre.resize.width * pre.resize.height;
}

export { checkRawPixels };
