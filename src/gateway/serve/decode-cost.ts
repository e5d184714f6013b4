// What decoding one image costs in memory, from its header alone: the bytes serve's decode budget
// reserves for it. Not width × height × channels: sharp's output buffer is only part of it.
// Measured with `bench/serve-load.ts decode-cost` (peak RSS of one decode in a fresh process, as
// the decode worker runs it: rotate() then raw 8-bit), sharp 0.35 / libvips 8.18, as a multiple
// of the output (width × height × channels):
//   baseline JPEG, non-interlaced PNG                                          1.13-1.20 ×
//   EXIF orientation 3-8 (auto-orientation first copies the whole image)       2.14-2.19 ×
//   progressive JPEG, interlaced PNG (the decoder holds the whole image)       2.02-2.20 ×, 3.2 × rotated
//   WebP, lossy or lossless (libwebp's RGBA frame and libvips's copy of it)    3.1-3.7 ×, rotation adds nothing
// The formula below covers each of those with a few per cent to spare (the bench prints measured
// against reserved for every case).
import type { ImageInfo } from '@ganomaly-edge/runtime/node';

/** libvips's line buffers and the allocator's rounding, as a share of the output. */
export const LINE_BUFFERS = 0.3;
/** WebP: bytes per pixel beyond the output (a 4-byte RGBA frame from libwebp, and libvips's copy). */
export const WEBP_FRAME_BYTES_PER_PIXEL = 8;

export type DecodeCostInfo = Pick<ImageInfo, 'format' | 'width' | 'height' | 'channels' | 'bytesPerSample' | 'progressive' | 'orientation'>;

/** Whole-image copies the decoder and the auto-orientation make before the output is written. */
export function wholeImageCopies(info: DecodeCostInfo): number {
  if (info.format === 'webp') return 0; // already whole in memory: counted in WEBP_FRAME_BYTES_PER_PIXEL
  const rotates = (info.orientation ?? 1) >= 3; // 2 is a mirror, done while streaming
  return (info.progressive ? 1 : 0) + (rotates ? 1 : 0);
}

/** Peak bytes one decode of this image takes (see the table above); what the decode budget reserves. */
export function decodeReservation(info: DecodeCostInfo): number {
  const pixels = info.width * info.height;
  const output = pixels * info.channels; // raw 8-bit, as the decode worker asks
  const whole = pixels * info.channels * info.bytesPerSample; // one copy in the decoder's own sample size
  const lines = LINE_BUFFERS * whole;
  const webp = info.format === 'webp' ? WEBP_FRAME_BYTES_PER_PIXEL * pixels : 0;
  return Math.ceil(output + lines + wholeImageCopies(info) * whole + webp);
}
