// Node image decoding with sharp: file paths and encoded bytes (PNG, JPEG, WebP, GIF, TIFF, AVIF…)
// become 8-bit pixels at native size; resizing is left to the shared pixel code.
import type { RawImage } from '../core/pixels.js';
import { ImageDecodeError, MissingDependencyError, errorMessage, isModuleNotFound, typeName } from '../core/errors.js';
import { displayPath, readRegularFile } from './read.js';

/** Largest image file read from a path (encoded bytes; the pixel limit bounds what it decodes to). */
export const MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024;

/** What the Node runtime scores: a file path, encoded image bytes, or raw pixels. */
export type NodeImageInput = string | Uint8Array | ArrayBuffer | RawImage;

/** Default pixel limit for decoding (sharp's guard against decompression bombs): 100 megapixels. */
export const DEFAULT_LIMIT_INPUT_PIXELS = 100_000_000;

type Sharp = typeof import('sharp').default;
let sharpModule: Promise<Sharp> | undefined;

/** sharp is loaded on first use, so raw-pixel users do not need its native library. */
export function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then(
    (m) => m.default,
    (e: unknown) => {
      sharpModule = undefined;
      if (!isModuleNotFound(e)) throw e;
      throw new MissingDependencyError(
        'sharp',
        'sharp is not installed; the Node runtime needs it to decode encoded images (PNG, JPEG, WebP) and write heatmaps: npm install sharp (raw pixels { data, width, height, channels } work without it)',
      );
    },
  );
  return sharpModule;
}

/** An image file's encoded bytes (at most MAX_IMAGE_FILE_BYTES, a regular file); ImageDecodeError otherwise. */
export async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    return await readRegularFile(path, MAX_IMAGE_FILE_BYTES);
  } catch (e) {
    throw new ImageDecodeError(`cannot read image file ${displayPath(path)}: ${errorMessage(e)}`);
  }
}

export interface NodeDecodeOptions {
  /** Ask libvips to give up after this many whole seconds (sharp's timeout; it checks as it writes rows). Default: none. */
  timeoutSeconds?: number;
}

export async function decodeNodeImage(input: unknown, limitInputPixels: number, options: NodeDecodeOptions = {}): Promise<RawImage> {
  let bytes: Uint8Array;
  let what: string;
  if (typeof input === 'string') {
    what = displayPath(input);
    bytes = await readImageFile(input);
  } else if (input instanceof Uint8Array) {
    what = `${input.length}-byte buffer`;
    bytes = input;
  } else if (input instanceof ArrayBuffer) {
    what = `${input.byteLength}-byte buffer`;
    bytes = new Uint8Array(input);
  } else {
    throw new ImageDecodeError(
      `unsupported image input (${typeName(input)}); pass a file path, encoded image bytes, or { data, width, height, channels }`,
    );
  }
  if (bytes.length === 0) throw new ImageDecodeError(`${what} is empty`);
  const sharp = await loadSharp();
  try {
    let pipeline = sharp(bytes, { limitInputPixels }).rotate(); // apply EXIF orientation, as browsers do when decoding
    if (options.timeoutSeconds) pipeline = pipeline.timeout({ seconds: options.timeoutSeconds });
    const { data, info } = await pipeline
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
  } catch (e) {
    throw new ImageDecodeError(`cannot decode ${what}: ${errorMessage(e)}`);
  }
}
