// Browser image decoding: every input becomes RGBA pixels at its native size through a 2D canvas,
// then goes through the same pixel code as Node, so both score an image identically.
import type { RawImage } from '../core/pixels.js';
import { ImageDecodeError, errorMessage, typeName } from '../core/errors.js';

/** What the browser runtime scores. Strings are image URLs (resolved against the page). */
export type WebImageInput =
  | ImageData
  | ImageBitmap
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | VideoFrame
  | Blob
  | ArrayBuffer
  | Uint8Array
  | string
  | RawImage;

/** No colour management, alpha kept as is, EXIF orientation applied (as sharp's rotate() does in Node). */
const BITMAP_OPTIONS: ImageBitmapOptions = { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' };

const is = <T>(ctor: string, x: unknown): x is T => {
  const C = (globalThis as Record<string, unknown>)[ctor];
  return typeof C === 'function' && x instanceof (C as new () => unknown);
};

type Ctx2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;
let scratch: { canvas: HTMLCanvasElement | OffscreenCanvas; ctx: Ctx2D } | undefined;

/** One reusable canvas: drawImage and getImageData run back to back, so calls cannot interleave. */
function canvas2d(width: number, height: number): Ctx2D {
  if (!scratch) {
    const canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(width, height) : document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true }) as Ctx2D | null;
    if (!ctx) throw new ImageDecodeError('this browser provides no 2D canvas to read pixels with');
    scratch = { canvas, ctx };
  }
  scratch.canvas.width = width;
  scratch.canvas.height = height;
  return scratch.ctx;
}

function grab(source: CanvasImageSource, width: number, height: number, what: string): RawImage {
  if (!(width > 0 && height > 0)) throw new ImageDecodeError(`${what} has no pixels (${width}x${height})`);
  const ctx = canvas2d(width, height);
  ctx.clearRect(0, 0, width, height);
  ctx.drawImage(source, 0, 0, width, height);
  const { data } = ctx.getImageData(0, 0, width, height);
  return { data, width, height, channels: 4 };
}

async function fromBlob(blob: Blob, what: string): Promise<RawImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, BITMAP_OPTIONS);
  } catch (e) {
    throw new ImageDecodeError(`cannot decode ${what}: ${errorMessage(e)}`);
  }
  try {
    return grab(bitmap, bitmap.width, bitmap.height, what);
  } finally {
    bitmap.close();
  }
}

export async function decodeWebImage(input: unknown): Promise<RawImage> {
  if (is<ImageData>('ImageData', input)) return { data: input.data, width: input.width, height: input.height, channels: 4 };
  if (is<ImageBitmap>('ImageBitmap', input)) return grab(input, input.width, input.height, 'ImageBitmap');
  if (is<HTMLImageElement>('HTMLImageElement', input)) {
    if (!input.complete || input.naturalWidth === 0) {
      try {
        await input.decode();
      } catch (e) {
        throw new ImageDecodeError(`image element ${input.currentSrc || input.src} could not be loaded: ${errorMessage(e)}`);
      }
    }
    // Through a bitmap so colour management and orientation match the Blob path.
    const bitmap = await createImageBitmap(input, BITMAP_OPTIONS);
    try {
      return grab(bitmap, bitmap.width, bitmap.height, 'image element');
    } finally {
      bitmap.close();
    }
  }
  if (is<HTMLVideoElement>('HTMLVideoElement', input)) {
    if (input.readyState < 2) throw new ImageDecodeError('video element has no current frame yet; wait for its "loadeddata" event');
    return grab(input, input.videoWidth, input.videoHeight, 'video frame');
  }
  if (is<VideoFrame>('VideoFrame', input)) return grab(input, input.displayWidth, input.displayHeight, 'VideoFrame');
  if (is<HTMLCanvasElement>('HTMLCanvasElement', input) || is<OffscreenCanvas>('OffscreenCanvas', input)) {
    return grab(input, input.width, input.height, 'canvas');
  }
  if (is<Blob>('Blob', input)) return fromBlob(input, `${input.type || 'image'} blob (${input.size} bytes)`);
  if (input instanceof ArrayBuffer || input instanceof Uint8Array) {
    return fromBlob(new Blob([input as BlobPart]), `${input.byteLength}-byte buffer`);
  }
  if (typeof input === 'string') {
    const url = new URL(input, globalThis.location?.href);
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new ImageDecodeError(`cannot fetch image ${url.href}: ${errorMessage(e)}`);
    }
    if (!res.ok) throw new ImageDecodeError(`cannot fetch image ${url.href}: HTTP ${res.status}`);
    return fromBlob(await res.blob(), url.href);
  }
  throw new ImageDecodeError(
    `unsupported image input (${typeName(input)}); pass ImageData, ImageBitmap, an <img>, <canvas> or <video>, a VideoFrame, a Blob, encoded bytes, a URL, or { data, width, height, channels }`,
  );
}
