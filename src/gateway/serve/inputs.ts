// Turns one uploaded image (encoded PNG/JPEG/WebP bytes, or raw 8-bit pixels described by
// headers) into model input before it joins a batch: a bad image fails its own request with a
// 400, never the batch it would have shared.
import {
  CORE_IMAGE_FORMATS,
  decodeMemoryBytes,
  IMAGE_FORMATS,
  imageFormatOfMediaType,
  imageMediaTypes,
  ImageDecodeError,
  cutFrameTiles,
  preprocessPixels,
  readImageInfo,
  type ImageInfo,
  type Manifest,
} from '@ganomaly-edge/runtime/node';
import type { DecodeOptions, DecodePool, ModelInput } from './decode-pool.js';
import { HttpError } from './errors.js';
import { readImageHeader } from './image-header.js';

export const ENCODED_TYPES: ReadonlySet<string> = new Set(imageMediaTypes(CORE_IMAGE_FORMATS));
export const RAW_TYPE = 'application/octet-stream';

export function isSupportedImageType(type: string): boolean {
  return ENCODED_TYPES.has(type) || type === RAW_TYPE;
}

export function unsupportedType(type: string, where: string): HttpError {
  return new HttpError(
    415,
    'unsupported_media_type',
    `${where} has Content-Type '${type || '(none)'}'; send image/png, image/jpeg, image/webp, or application/octet-stream raw pixels with x-width, x-height and x-channels`,
  );
}

function dimension(headers: Record<string, string | string[] | undefined>, name: string, max: number): number {
  const v = headers[name];
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new HttpError(400, 'invalid_raw_pixels', `raw pixels need header ${name}: an integer from 1 to ${max}; got ${v === undefined ? 'none' : `'${String(v)}'`}`);
  }
  return n;
}

/** Where an image becomes model input: the model's preprocessing, and the workers that decode. */
export interface InputContext {
  limitInputPixels: number;
  preprocessing: Manifest['preprocessing'];
  /** Patch models: frames are cut into tiles instead of resized. */
  tiling?: Manifest['tiling'];
  decoder: DecodePool;
}

/**
 * Turns `data` into the model's input according to its media type: encoded images are decoded
 * and preprocessed by a decode worker (their pixels never reach this thread), raw pixels are
 * checked and preprocessed here (they are in memory already, and preprocessing reads only the
 * pixels the resize samples). `headers` are where raw pixels' x-width, x-height and x-channels are
 * read from (the request's, or a multipart part's). Throws HttpError 400/415.
 */
export async function toModelInput(
  data: Buffer,
  type: string,
  headers: Record<string, string | string[] | undefined>,
  ctx: InputContext,
  decode: DecodeOptions = {},
): Promise<ModelInput> {
  if (data.length === 0) throw new HttpError(400, 'empty_body', 'the image is empty');
  if (type === RAW_TYPE) {
    const width = dimension(headers, 'x-width', 1 << 20);
    const height = dimension(headers, 'x-height', 1 << 20);
    const channels = dimension(headers, 'x-channels', 4);
    if (width * height > ctx.limitInputPixels) {
      throw new HttpError(400, 'image_too_large', `${width}x${height} pixels exceeds the limit of ${ctx.limitInputPixels} (server option --max-pixels)`);
    }
    if (data.length !== width * height * channels) {
      throw new HttpError(400, 'invalid_raw_pixels', `raw body has ${data.length} bytes but ${width}x${height}x${channels} needs ${width * height * channels}`);
    }
    const pixels = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height, channels };
    if (!ctx.tiling) return preprocessPixels(pixels, ctx.preprocessing);
    try {
      return cutFrameTiles(pixels, ctx.tiling, ctx.preprocessing, 'CHW');
    } catch (e) {
      throw new HttpError(400, 'invalid_raw_pixels', (e as Error).message);
    }
  }
  if (!ENCODED_TYPES.has(type)) throw unsupportedType(type, 'the image');
  try {
    return await ctx.decoder.decode(data, decode);
  } catch (e) {
    if (!(e instanceof ImageDecodeError)) throw e; // cancelled, or a worker that died: not the image's fault
    // sharp reports decompression bombs as "Input image exceeds pixel limit".
    if (/pixel limit/i.test(e.message)) {
      throw new HttpError(400, 'image_too_large', `image exceeds the limit of ${ctx.limitInputPixels} pixels (server option --max-pixels)`);
    }
    throw new HttpError(400, 'undecodable_image', e.message);
  }
}

/**
 * The bytes decoding `data` will take (the runtime's decodeMemoryBytes: the output and what sharp
 * holds besides, per format, interlacing and orientation), from its header alone (image-header.ts in JS, else
 * sharp's metadata(); no pixel decoding), so the server can admit by decode memory before decoding. Refuses, with the same HttpErrors as toModelInput, what it would
 * refuse: pixel-limit bombs, bad raw headers, and bodies whose real format differs from the
 * declared type.
 */
export async function decodedSize(
  data: Buffer,
  type: string,
  headers: Record<string, string | string[] | undefined>,
  limitInputPixels: number,
): Promise<number> {
  return (await decodeCost(data, type, headers, limitInputPixels)).bytes;
}

/** What decoding an image will cost: the bytes to reserve (decodedSize), and its pixels (0 for raw pixels, which are not decoded). */
export interface DecodeCost {
  bytes: number;
  pixels: number;
}

/** decodedSize, with the image's pixels (width × height): what decode time grows with. */
export async function decodeCost(
  data: Buffer,
  type: string,
  headers: Record<string, string | string[] | undefined>,
  limitInputPixels: number,
): Promise<DecodeCost> {
  if (data.length === 0) throw new HttpError(400, 'empty_body', 'the image is empty');
  if (type === RAW_TYPE) return { bytes: data.length, pixels: 0 }; // checked in full by toModelInput; already in memory
  const format = imageFormatOfMediaType(type, CORE_IMAGE_FORMATS);
  if (!format) throw unsupportedType(type, 'the image');
  const expected = IMAGE_FORMATS[format].sharpFormat;
  const header = readImageHeader(data);
  if (header?.format === expected) return checkedSize(header, limitInputPixels);
  // Not a header the JS reader is sure of (or not the declared format): sharp reads it, and names what it is.
  let info: ImageInfo;
  try {
    info = await readImageInfo(data, limitInputPixels);
  } catch (e) {
    if (!(e instanceof ImageDecodeError)) throw e;
    if (/pixel limit/i.test(e.message)) {
      throw new HttpError(400, 'image_too_large', `image exceeds the limit of ${limitInputPixels} pixels (server option --max-pixels)`);
    }
    throw new HttpError(400, 'undecodable_image', e.message);
  }
  if (info.format !== expected) {
    throw new HttpError(415, 'unsupported_media_type', `the body is declared as ${type} but is ${info.format ?? 'not a recognised image'}; send image/png, image/jpeg or image/webp`);
  }
  return checkedSize(info, limitInputPixels);
}

function checkedSize(info: Parameters<typeof decodeMemoryBytes>[0], limitInputPixels: number): DecodeCost {
  const { width, height } = info;
  if (width < 1 || height < 1) throw new HttpError(400, 'undecodable_image', 'the image header has no size');
  if (width * height > limitInputPixels) {
    throw new HttpError(400, 'image_too_large', `${width}x${height} pixels exceeds the limit of ${limitInputPixels} (server option --max-pixels)`);
  }
  return { bytes: decodeMemoryBytes(info), pixels: width * height };
}
