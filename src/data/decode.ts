// Image file → 8-bit interleaved pixels at native size. Everything after this is src/runtime/core/pixels.ts,
// shared with the runtimes, so training sees exactly the pixels the deployed model will.
import sharp from 'sharp';
import type { RawImage } from '@ganomaly-edge/runtime';
import { MAX_IMAGE_FILE_BYTES, readRegularFile } from '../io/read.js';

/**
 * Decodes PNG/JPEG/WebP (anything sharp reads) to uchar pixels with the file's own channel count
 * (1–4). EXIF orientation is applied because browsers apply it when they decode for the web
 * runtime. failOn 'error' rejects truncated or corrupt files rather than returning grey pixels.
 */
/** Largest training image (width × height), as `serve` accepts: several decode at once, and each is resized to isize anyway. */
export const TRAIN_LIMIT_INPUT_PIXELS = 25_000_000;

export async function decodeImageFile(file: string): Promise<RawImage> {
  let out: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    // Read bounded here, not by libvips: a FIFO, a device or an oversize file is refused unread.
    const bytes = await readRegularFile(file, MAX_IMAGE_FILE_BYTES, 'the file');
    out = await sharp(bytes, { failOn: 'error', autoOrient: true, limitInputPixels: TRAIN_LIMIT_INPUT_PIXELS })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    if (/pixel limit/i.test((e as Error).message)) {
      throw new Error(`larger than the ${TRAIN_LIMIT_INPUT_PIXELS / 1e6} megapixels training decodes; downscale it first`);
    }
    throw e;
  }
  const { data, info } = out;
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
}
