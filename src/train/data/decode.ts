// Image file → 8-bit interleaved pixels at native size. Everything after this is src/pixels.ts,
// shared with the runtimes, so training sees exactly the pixels the deployed model will.
import sharp from 'sharp';
import type { RawImage } from '../../pixels.js';

/**
 * Decodes PNG/JPEG/WebP (anything sharp reads) to uchar pixels with the file's own channel count
 * (1–4). EXIF orientation is applied because browsers apply it when they decode for the web
 * runtime. failOn 'error' rejects truncated or corrupt files rather than returning grey pixels.
 */
export async function decodeImageFile(file: string): Promise<RawImage> {
  const { data, info } = await sharp(file, { failOn: 'error', autoOrient: true })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
}
