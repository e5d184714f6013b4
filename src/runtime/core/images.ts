// Raw pixel inputs are checked here, with typed errors, before the shared pixel pipeline sees
// them; everything else goes through the platform's decoder first.
import { preprocessImage, type RawImage } from '../../pixels.js';
import type { Preprocessing } from '../../types.js';
import { ChannelMismatchError, ImageDecodeError, InvalidImageError, MissingDependencyError, errorMessage, typeName } from './errors.js';
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

export function checkRawPixels(img: RawPixels, index?: number): void {
  const { data, width, height, channels } = img;
  const at = index === undefined ? '' : ` (image ${index})`;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    const got = typeName(data);
    throw new InvalidImageError(
      `raw pixel data must be a Uint8Array or Uint8ClampedArray of 0-255 values; got ${got}${at}. ` +
        'Scale float pixels to 0-255 and convert first.',
      index,
    );
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InvalidImageError(`raw image width and height must be positive integers; got ${width}x${height}${at}`, index);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 4) {
    throw new ChannelMismatchError(
      `raw image has ${channels} channels${at}; supported are 1 (grey), 2 (grey+alpha), 3 (RGB) and 4 (RGBA)`,
      channels,
      index,
    );
  }
  if (data.length !== width * height * channels) {
    throw new InvalidImageError(
      `raw pixel buffer has ${data.length} bytes but ${width}x${height}x${channels} needs ${width * height * channels}${at}`,
      index,
    );
  }
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
  checkRawPixels(img);
  return preprocessImage(img, pre, 'CHW');
}

export function inputSize(pre: Preprocessing): number {
  return (pre.channelOrder === 'gray' ? 1 : 3) * pre.resize.width * pre.resize.height;
}
