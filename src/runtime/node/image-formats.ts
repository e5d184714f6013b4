// The image formats the toolkit reads, and what an image costs once decoded, each defined once:
// `ganomaly score` picks files by these extensions, serve accepts these media types and admits
// uploads by this size, and training folders take the core formats.
import { ImageDecodeError, errorMessage } from '../core/errors.js';
import { loadSharp, readImageFile } from './decode.js';

export type ImageFormatName = 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff' | 'avif';

export interface ImageFormatInfo {
  /** Media types that declare the format (image/jpg is a common misspelling of image/jpeg). */
  readonly mediaTypes: readonly string[];
  /** File extensions, lower case, with the dot. */
  readonly extensions: readonly string[];
  /** What sharp's metadata().format reports for it (AVIF is read by libheif: 'heif'). */
  readonly sharpFormat: string;
}

/** Every encoded format sharp decodes for the runtime, in the order their extensions are listed. */
export const IMAGE_FORMATS: Readonly<Record<ImageFormatName, ImageFormatInfo>> = {
  png: { mediaTypes: ['image/png'], extensions: ['.png'], sharpFormat: 'png' },
  jpeg: { mediaTypes: ['image/jpeg', 'image/jpg'], extensions: ['.jpg', '.jpeg'], sharpFormat: 'jpeg' },
  webp: { mediaTypes: ['image/webp'], extensions: ['.webp'], sharpFormat: 'webp' },
  gif: { mediaTypes: ['image/gif'], extensions: ['.gif'], sharpFormat: 'gif' },
  tiff: { mediaTypes: ['image/tiff'], extensions: ['.tif', '.tiff'], sharpFormat: 'tiff' },
  avif: { mediaTypes: ['image/avif'], extensions: ['.avif'], sharpFormat: 'heif' },
};

/**
 * PNG, JPEG and WebP: the formats training folders and serve uploads take (and that browsers
 * decode too, so a model trained on them can be fed the same files anywhere). `ganomaly score`
 * takes every format in IMAGE_FORMATS.
 */
export const CORE_IMAGE_FORMATS: readonly ImageFormatName[] = ['png', 'jpeg', 'webp'];

const ALL_FORMATS = Object.keys(IMAGE_FORMATS) as ImageFormatName[];

/** The file extensions of `formats` (default: all), lower case with the dot. */
export function imageExtensions(formats: readonly ImageFormatName[] = ALL_FORMATS): string[] {
  return formats.flatMap((f) => IMAGE_FORMATS[f].extensions);
}

/** The media types of `formats` (default: all), lower case. */
export function imageMediaTypes(formats: readonly ImageFormatName[] = ALL_FORMATS): string[] {
  return formats.flatMap((f) => IMAGE_FORMATS[f].mediaTypes);
}

/** The format a media type (lower case, no parameters) declares, among `formats` (default: all). */
export function imageFormatOfMediaType(type: string, formats: readonly ImageFormatName[] = ALL_FORMATS): ImageFormatName | undefined {
  return formats.find((f) => IMAGE_FORMATS[f].mediaTypes.includes(type));
}

/** What an image is, read from its header alone (nothing decoded). */
export interface ImageInfo {
  /** sharp's metadata().format, when sharp read it (see ImageFormatInfo.sharpFormat). */
  format?: string;
  width: number;
  height: number;
  /** Bands the decoder produces. */
  channels: number;
  /** Bytes per sample as decoded: 1 (8 bits or fewer), 2 (16-bit), 4 (32-bit int or float). */
  bytesPerSample: 1 | 2 | 4;
  /** A progressive JPEG or an interlaced PNG (sharp's isProgressive), when sharp read it. */
  progressive?: boolean;
  /** The EXIF orientation (1-8) decoding applies, when sharp read it; absent means none. */
  orientation?: number;
}

/** sharp's metadata().depth as bytes per sample (libvips band formats). */
export function bytesPerSample(depth: string | undefined): 1 | 2 | 4 {
  if (depth === 'ushort' || depth === 'short') return 2;
  if (depth === 'float' || depth === 'uint' || depth === 'int') return 4;
  return 1;
}

/**
 * The bytes an image's pixels take once decoded: width × height × channels × bytes per sample.
 * What callers budget by before decoding (serve's admission, score's runs).
 */
export function decodedByteSize(info: Pick<ImageInfo, 'width' | 'height' | 'channels' | 'bytesPerSample'>): number {
  return info.width * info.height * info.channels * info.bytesPerSample;
}

// What decoding an image with decodeNodeImage (sharp: rotate() then raw 8-bit) really holds at
// its peak: not only the output buffer. Measured with `bench/serve-load.ts attack` (decode-cost:
// peak RSS growth of one decode in a fresh process), sharp 0.35 / libvips 8.18, as a multiple of
// the output (width × height × channels):
//   baseline JPEG, non-interlaced PNG                                          1.13-1.20 ×
//   EXIF orientation 3-8 (auto-orientation first copies the whole image)       2.14-2.19 ×
//   progressive JPEG, interlaced PNG (the decoder holds the whole image)       2.02-2.20 ×, 3.2 × rotated
//   WebP, lossy or lossless (libwebp's RGBA frame and libvips's copy of it)    3.1-3.7 ×, rotation adds nothing
// decodeMemoryBytes covers each with a few per cent to spare. GIF, TIFF and AVIF were not measured:
// they are counted as WebP is (a whole frame in memory besides the output).

/** libvips's line buffers and the allocator's rounding, as a share of the image in its decoded sample size. */
export const DECODE_LINE_BUFFERS = 0.3;
/** Formats decoded as one frame into memory (WebP, and unmeasured GIF/TIFF/AVIF): bytes per pixel beyond the output. */
export const DECODE_FRAME_BYTES_PER_PIXEL = 8;

/** Streamed formats: decoded row by row (unless progressive, interlaced or rotated). */
const STREAMED_FORMATS = new Set(['jpeg', 'png']);

/** Whole-image copies the decoder and the auto-orientation make before the output is written. */
export function wholeImageCopies(info: Pick<ImageInfo, 'format' | 'progressive' | 'orientation'>): number {
  if (!STREAMED_FORMATS.has(info.format ?? '')) return 0; // already whole in memory: DECODE_FRAME_BYTES_PER_PIXEL
  const rotates = (info.orientation ?? 1) >= 3; // 2 is a mirror, done while streaming
  return (info.progressive ? 1 : 0) + (rotates ? 1 : 0);
}

/**
 * Peak bytes one decodeNodeImage call holds for this image (see the table above): the 8-bit output,
 * line buffers, whole-image copies, and a frame for formats decoded whole. What serve's decode
 * budget and score's runs reserve per image; decodedByteSize is the output alone.
 */
export function decodeMemoryBytes(info: Pick<ImageInfo, 'format' | 'width' | 'height' | 'channels' | 'bytesPerSample' | 'progressive' | 'orientation'>): number {
  const pixels = info.width * info.height;
  const output = pixels * info.channels; // raw 8-bit
  const whole = pixels * info.channels * info.bytesPerSample; // one copy in the decoder's own sample size
  const frame = STREAMED_FORMATS.has(info.format ?? '') ? 0 : DECODE_FRAME_BYTES_PER_PIXEL * pixels;
  return Math.ceil(output + DECODE_LINE_BUFFERS * whole + wholeImageCopies(info) * whole + frame);
}

/**
 * Reads an image's header with sharp's metadata() (a file path or encoded bytes; nothing is
 * decoded). `limitInputPixels` refuses bigger images as decoding would (false: no limit). Channels
 * default to 4 when the header does not say. Throws ImageDecodeError when sharp cannot read it.
 */
export async function readImageInfo(input: string | Uint8Array, limitInputPixels: number | false): Promise<ImageInfo> {
  const sharp = await loadSharp();
  // A path is read here, bounded, not by sharp: libvips would open a FIFO or /dev/zero itself.
  const bytes = typeof input === 'string' ? await readImageFile(input) : input;
  let meta: { format?: string; width?: number; height?: number; channels?: number; depth?: string; isProgressive?: boolean; orientation?: number };
  try {
    meta = await sharp(bytes, { limitInputPixels }).metadata();
  } catch (e) {
    throw new ImageDecodeError(`cannot read the image header: ${errorMessage(e)}`);
  }
  return {
    format: meta.format, width: meta.width ?? 0, height: meta.height ?? 0, channels: meta.channels ?? 4, bytesPerSample: bytesPerSample(meta.depth),
    progressive: meta.isProgressive ?? false, orientation: meta.orientation ?? 1,
  };
}
