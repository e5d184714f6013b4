// Turns one uploaded image (encoded PNG/JPEG/WebP bytes, or raw 8-bit pixels described by
// headers) into model input before it joins a batch: a bad image fails its own request with a
// 400, never the batch it would have shared.
import { ImageDecodeError, loadSharp, preprocessPixels, type Manifest } from '@ganomaly-edge/runtime/node';
import type { DecodePool } from './decode-pool.js';
import { HttpError } from './errors.js';
import { readImageHeader } from './image-header.js';

export const ENCODED_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/jpg', 'image/webp']);
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
  signal?: AbortSignal,
): Promise<Float32Array> {
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
    return preprocessPixels({ data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height, channels }, ctx.preprocessing);
  }
  if (!ENCODED_TYPES.has(type)) throw unsupportedType(type, 'the image');
  try {
    return await ctx.decoder.decode(data, signal);
  } catch (e) {
    if (!(e instanceof ImageDecodeError)) throw e; // cancelled, or a worker that died: not the image's fault
    // sharp reports decompression bombs as "Input image exceeds pixel limit".
    if (/pixel limit/i.test(e.message)) {
      throw new HttpError(400, 'image_too_large', `image exceeds the limit of ${ctx.limitInputPixels} pixels (server option --max-pixels)`);
    }
    throw new HttpError(400, 'undecodable_image', e.message);
  }
}

/** What sharp's metadata().format must say for each declared type (an SVG sent as image/png is refused). */
const FORMAT_OF: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/jpg': 'jpeg', 'image/webp': 'webp' };

/**
 * The bytes `data` will take once decoded, from its header alone (image-header.ts in JS, else
 * sharp's metadata(); no pixel decoding), so the server can admit by decoded size before
 * decoding. Refuses, with the same HttpErrors as toModelInput, what it would refuse: pixel-limit
 * bombs, bad raw headers, and bodies whose real format differs from the declared type.
 */
export async function decodedSize(
  data: Buffer,
  type: string,
  headers: Record<string, string | string[] | undefined>,
  limitInputPixels: number,
): Promise<number> {
  if (data.length === 0) throw new HttpError(400, 'empty_body', 'the image is empty');
  if (type === RAW_TYPE) return data.length; // checked in full by toModelInput; already in memory
  const expected = FORMAT_OF[type];
  if (!expected) throw unsupportedType(type, 'the image');
  const header = readImageHeader(data);
  if (header?.format === expected) return checkedSize(header.width, header.height, header.channels, header.bytesPerSample, limitInputPixels);
  // Not a header the JS reader is sure of (or not the declared format): sharp reads it, and names what it is.
  const sharp = await loadSharp();
  let meta: { format?: string; width?: number; height?: number; channels?: number; depth?: string };
  try {
    meta = await sharp(data, { limitInputPixels }).metadata();
  } catch (e) {
    if (/pixel limit/i.test(e instanceof Error ? e.message : String(e))) {
      throw new HttpError(400, 'image_too_large', `image exceeds the limit of ${limitInputPixels} pixels (server option --max-pixels)`);
    }
    throw new HttpError(400, 'undecodable_image', `cannot read the image header: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (meta.format !== expected) {
    throw new HttpError(415, 'unsupported_media_type', `the body is declared as ${type} but is ${meta.format ?? 'not a recognised image'}; send image/png, image/jpeg or image/webp`);
  }
  const bytesPerSample = meta.depth === 'ushort' || meta.depth === 'short' ? 2 : meta.depth === 'float' || meta.depth === 'uint' || meta.depth === 'int' ? 4 : 1;
  return checkedSize(meta.width ?? 0, meta.height ?? 0, meta.channels ?? 4, bytesPerSample, limitInputPixels);
}

function checkedSize(width: number, height: number, channels: number, bytesPerSample: number, limitInputPixels: number): number {
  if (width < 1 || height < 1) throw new HttpError(400, 'undecodable_image', 'the image header has no size');
  if (width * height > limitInputPixels) {
    throw new HttpError(400, 'image_too_large', `${width}x${height} pixels exceeds the limit of ${limitInputPixels} (server option --max-pixels)`);
  }
  return width * height * channels * bytesPerSample;
}
